"""Behaviour specs: a complaint is a complaint, a question is a question, in both languages and any register.

``tests/data/behaviour_specs.jsonl`` holds messages written for this spec (none is in any training file):
failures reported plainly, tersely, sarcastically or as a rhetorical question (``dissatisfied``: the
routing rule the README gives users, ``sentiment.label == "negative"`` or ``hidden_dissatisfaction.detected``),
and questions or statements of fact with no failure in them (``neutral``: neither negative nor detected).

The served models are scored on all of them at once. Each group must pass at the rate below; the failures
are listed in the assertion message, so a retrained model that regresses shows which cases it lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.pipeline import AnalysisInput
from models.registry import Registry
from models.schema import Analysis

pytestmark = pytest.mark.model

SPECS = [json.loads(line) for line in (Path(__file__).parent / "data" / "behaviour_specs.jsonl").open(encoding="utf-8")]
#: The share of each group the served models must get right (measured: see the sentiment model card).
MIN_PASS = {"dissatisfied": 0.85, "neutral": 0.85}


def dissatisfied(a: Analysis) -> bool:
    assert a.sentiment is not None
    hidden = a.hidden_dissatisfaction is not None and a.hidden_dissatisfaction.detected
    return a.sentiment.label == "negative" or hidden


@pytest.fixture(scope="module")
def answers(registry: Registry) -> list[Analysis]:
    return registry.analyzer.analyze_batch([AnalysisInput.prepare(s["text"]) for s in SPECS])


def test_specs_cover_both_languages_and_both_expectations() -> None:
    langs = {("en" if s["text"].isascii() or s["text"][0] in "@" else "zh", s["expect"]) for s in SPECS}
    assert langs == {("zh", "dissatisfied"), ("zh", "neutral"), ("en", "dissatisfied"), ("en", "neutral")}
    assert len(SPECS) >= 40


@pytest.mark.parametrize("expect", sorted(MIN_PASS))
def test_behaviour_specs(answers: list[Analysis], expect: str) -> None:
    cases = [(s, a) for s, a in zip(SPECS, answers, strict=True) if s["expect"] == expect]
    wrong = [
        f"{s['text']!r} ({s['kind']}): sentiment {a.sentiment.label if a.sentiment else None}, "
        f"hidden {a.hidden_dissatisfaction.score if a.hidden_dissatisfaction else None}"
        for s, a in cases
        if dissatisfied(a) != (expect == "dissatisfied")
    ]
    rate = 1 - len(wrong) / len(cases)
    assert rate >= MIN_PASS[expect], f"{expect}: {rate:.2f} < {MIN_PASS[expect]}; wrong:\n" + "\n".join(wrong)
