"""Every class of a training task comes from sources that also supply the other classes.

A class drawn from a source that supplies no other class teaches a model to recognise the source, not the
label (round 1: neutral = news and templates, so every customer message read polar). These tests read the
real corpora in ``../shared/data`` and the label x source tables the served heads were trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.settings import DEFAULT_HEADS_DIR
from training.sentiment.data import airline_tweets, corpus, label_source_table, undo_airline_leak


@pytest.fixture(scope="module")
def sentiment_corpus() -> dict[str, list]:  # type: ignore[type-arg]
    return corpus()


def test_every_sentiment_source_supplies_at_least_two_classes(sentiment_corpus: dict[str, list]) -> None:  # type: ignore[type-arg]
    table = label_source_table([e for items in sentiment_corpus.values() for e in items])
    single = {s: dict(c) for s, c in table.items() if len(c) < 2}
    assert not single, f"single-class sources: {single}"
    three = [s for s, c in table.items() if len(c) == 3]
    assert len(three) >= 4  # three-class sources in both languages
    assert {e.lang for s in three for e in sentiment_corpus[s]} == {"zh", "en"}


def test_sources_are_disjoint_and_no_source_dominates(sentiment_corpus: dict[str, list]) -> None:  # type: ignore[type-arg]
    texts = [e.text for items in sentiment_corpus.values() for e in items]
    assert len(texts) == len(set(texts))
    biggest = max(len(items) for items in sentiment_corpus.values())
    assert biggest / len(texts) < 0.25


@pytest.mark.parametrize("head", ["sentiment"])
def test_the_served_head_was_trained_on_multi_class_sources(head: str) -> None:
    metrics = json.loads((Path(DEFAULT_HEADS_DIR) / head / "metrics.json").read_text())
    table = metrics["label_source"]
    assert all(len([n for n in counts.values() if n > 0]) >= 2 for counts in table.values()), table
    assert len(metrics["headline"]) >= 4 and len(metrics["loso"][metrics["chosen"]]) >= 5


def test_hidden_training_sources_supply_both_outcomes() -> None:
    metrics = json.loads((Path(DEFAULT_HEADS_DIR) / "hidden" / "metrics.json").read_text())
    table = metrics["train_sources"]
    single = {s: c for s, c in table.items() if len([n for n in c.values() if n > 0]) < 2}
    assert not single, f"single-class sources: {single}"


def test_airline_label_leak_is_undone() -> None:
    assert (
        undo_airline_leak("my flight was Cancelled Flightled and Late Flightr") == "my flight was cancelled and later"
    )
    assert not any("Late Flight" in e.text or "Cancelled Flight" in e.text for e in airline_tweets())


def test_behaviour_specs_are_not_training_data() -> None:
    """The behaviour specs stay held out: none of their texts is in a file the recipes train on."""
    specs = [json.loads(line)["text"] for line in (Path(__file__).parent / "data" / "behaviour_specs.jsonl").open()]
    resources = Path(__file__).resolve().parent.parent / "training" / "resources"
    written = "\n".join(p.read_text(encoding="utf-8") for p in sorted(resources.iterdir()) if p.is_file())
    assert not [t for t in specs if t in written]
