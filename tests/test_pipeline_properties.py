"""Property-based tests: any ``received_at``, context and text gives every message a complete answer.

The pipeline is the served one (every stage loaded from ``STAGE_LOADERS``: hidden dissatisfaction, entities with
the date resolver, topic, risk) on the deterministic fake encoder at the real hidden size, so hypothesis can run
many examples in seconds; the real encoder would only change the numbers the stages read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from models.entities.timex import find_times
from models.fake import FakeEncoder, fake_sentiment
from models.pipeline import AnalysisInput, Analyzer, Turn
from models.schema import Analysis
from models.settings import ModelSettings
from models.stages import STAGE_LOADERS, StageEnv

TIME_WORDS = [
    "昨天下午三点",
    "明天",
    "后天晚上8点",
    "上周五",
    "下个月",
    "去年",
    "明年3月",
    "3月15日",
    "12月31日",
    "2月30日",
    "三天后",
    "3小时前",
    "999天前",
    "0000年1月1日",
    "9999-12-31",
    "一个多月",
    "yesterday at 3pm",
    "last week",
    "next month",
    "2 days later",
    "12/31/9999",
]
ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-30))])
ANCHORS = st.none() | st.datetimes(timezones=ZONES)  # year 1 to 9999, any time zone
TEXTS = st.one_of(
    st.text(min_size=1, max_size=80),
    st.lists(st.sampled_from(TIME_WORDS) | st.text(max_size=8), min_size=1, max_size=5).map(" ".join),
    st.sampled_from(TIME_WORDS).map(lambda w: f"{w}下单，订单号123456789012，电话13800138000"),
)
TURNS = st.lists(st.builds(Turn, st.sampled_from(["customer", "agent"]), st.text(max_size=60)), max_size=3)
ITEMS = st.builds(
    lambda text, anchor, turns: AnalysisInput.prepare(text, context=tuple(turns), received_at=anchor),
    TEXTS,
    ANCHORS,
    TURNS,
)


@given(text=st.lists(st.sampled_from(TIME_WORDS), min_size=1, max_size=3).map("，".join), anchor=ANCHORS)
@example(text="昨天下午三点下单", anchor=datetime(1, 1, 1, tzinfo=UTC))
@example(text="明天", anchor=datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
@settings(max_examples=300, deadline=None)
def test_dates_resolve_or_are_null_for_any_anchor(text: str, anchor: datetime | None) -> None:
    for lang in ("zh", "en"):
        for timex in find_times(text, lang):
            value = timex.normalized(anchor)
            assert value.get("value") is None or isinstance(value["value"], str)


def test_the_poison_date_of_issue_19_is_null_not_an_error() -> None:
    [timex] = find_times("昨天下午三点下单", "zh")
    assert timex.normalized(datetime(1, 1, 1, tzinfo=UTC)) == {"value": None, "grain": "minute"}
    assert timex.normalized(datetime(2024, 5, 2, 9, tzinfo=UTC))["value"] == "2024-05-01T15:00:00+00:00"


@pytest.fixture(scope="module")
def served_stages_on_fake_encoder(artifacts: Path) -> Analyzer:
    model_settings = ModelSettings(artifacts_dir=artifacts, ort_threads=1)
    encoder = FakeEncoder(hidden_size=384)
    # The pooled heads refuse states of another encoder; this plumbing test feeds them the fake's hashes under
    # the served encoder's identity (the answers are meaningless, the stages' code paths are the served ones).
    served = json.loads((model_settings.heads_dir / "hidden" / "config.json").read_text())["encoder"]
    encoder.name, encoder.version = served.split("/", 1)
    env = StageEnv(model_settings.heads_dir, artifacts, encoder, model_settings)
    stages = [loaded[0] for loader in STAGE_LOADERS if (loaded := loader(env)) is not None]
    assert [s.name for s in stages] == ["hidden_dissatisfaction", "entities", "topic", "risk"]
    return Analyzer(encoder, fake_sentiment(384), stages)


@pytest.mark.model
@given(items=st.lists(ITEMS, min_size=1, max_size=6))
@example(items=[AnalysisInput.prepare("昨天下午三点下单", received_at=datetime(1, 1, 1, tzinfo=UTC))])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_input_gets_a_complete_answer_independent_of_its_batch(
    served_stages_on_fake_encoder: Analyzer, items: list[AnalysisInput]
) -> None:
    analyzer = served_stages_on_fake_encoder
    answers = analyzer.analyze_each(items)
    assert len(answers) == len(items)
    for answer in answers:
        assert isinstance(answer, Analysis)
        assert answer.warnings == []  # no stage failed on any of them
        assert answer.sentiment is not None and answer.entities is not None and answer.risk is not None
    alone = analyzer.analyze_each(items[-1:])[0]
    assert alone == answers[-1]  # a message's answer does not depend on its neighbours
