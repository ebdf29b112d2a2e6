"""The risk stage on the REAL pipeline (encoder, sentiment and every served stage) with clear messages.

Each test builds the served analyzer with its own risk stage, so the repetition store is known:
the in-process one, or the real Redis (database 15) for the Redis variant.
"""

from __future__ import annotations

import pytest
import redis

from models.pipeline import AnalysisInput, Analyzer, Turn
from models.registry import Registry
from models.risk.repetition import MemoryRepetitionStore, RedisRepetitionStore, RepetitionStore, RepetitionTracker
from models.risk.stage import RiskStage
from models.schema import Risk
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.model
LEVELS = ("blue", "yellow", "red")


def analyzer_with(registry: Registry, store: RepetitionStore) -> Analyzer:
    served = registry.analyzer
    risk = next(s for s in served.stages if isinstance(s, RiskStage))
    tracker = RepetitionTracker(store, 7 * 86400.0)
    stage = RiskStage(risk.config, risk.extractor, tracker, risk.version)
    others = tuple(s for s in served.stages if s.name != "risk")
    return Analyzer(served.encoder, served.sentiment, (*others, stage))


def risk_of(analyzer: Analyzer, text: str, **kw: object) -> Risk:
    [answer] = analyzer.analyze_batch([AnalysisInput.prepare(text, **kw)])  # type: ignore[arg-type]
    assert answer.risk is not None
    return answer.risk


@pytest.fixture(scope="module")
def analyzer(registry: Registry) -> Analyzer:
    return analyzer_with(registry, MemoryRepetitionStore())


def test_regulator_threat_in_chinese_is_red_with_its_span(analyzer: Analyzer) -> None:
    text = "你們再不處理，我就打12315投訴，還要找媒體曝光！"  # Traditional script
    risk = risk_of(analyzer, text)
    assert risk.level == "red" and risk.handoff
    reason = next(r for r in risk.reasons if r.signal == "escalation_threat")
    assert reason.start is not None and reason.end is not None
    assert text[reason.start : reason.end] == reason.text == "12315"
    assert "媒体" in reason.detail


def test_calm_questions_stay_blue(analyzer: Analyzer) -> None:
    for text in ("请问信用卡账单日可以改到每月5号吗？", "How do I change the delivery address on my order?"):
        risk = risk_of(analyzer, text)
        assert risk.level == "blue" and not risk.handoff, (text, risk)


def test_english_chargeback_and_calm_safety_incident_are_red(analyzer: Analyzer) -> None:
    threat = risk_of(analyzer, "Dear team, unless this is resolved by Friday I will file a chargeback with my bank.")
    assert threat.level == "red" and threat.reasons[0].signal == "escalation_threat"
    calm = risk_of(analyzer, "您好，昨天使用电暖器时插头冒烟了，所幸没有人受伤，请安排人处理。")
    assert calm.level == "red" and "safety_legal" in [r.signal for r in calm.reasons]


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_repetition_raises_the_level_on_the_third_message(
    registry: Registry, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "redis":
        request.getfixturevalue("redis_client")  # flushed database 15
        store: RepetitionStore = RedisRepetitionStore(REDIS_URL)
    else:
        store = MemoryRepetitionStore()
    analyzer = analyzer_with(registry, store)
    text = "退款还是没有到账，请帮我查一下。"
    risks = [risk_of(analyzer, text, customer_id="cust-rep-1") for _ in range(3)]
    levels = [LEVELS.index(r.level) for r in risks]
    assert levels[2] > levels[0], [r.level for r in risks]
    assert risks[2].handoff
    assert "repetition" not in [r.signal for r in risks[0].reasons]
    assert "message 3" in next(r.detail for r in risks[2].reasons if r.signal == "repetition")
    other = risk_of(analyzer, text, customer_id="cust-rep-2")  # another customer starts from one
    assert "repetition" not in [r.signal for r in other.reasons]
    if backend == "redis":
        keys = redis.Redis.from_url(REDIS_URL).keys("tousu:risk:rep:*")
        assert len(keys) == 2 and not any(b"cust-rep" in k for k in keys)


def test_rising_intensity_across_turns_raises_the_risk_and_hands_off(analyzer: Analyzer) -> None:
    current = "你们到底管不管？！一拖再拖，太过分了！！"
    alone = risk_of(analyzer, current)
    calm_start = (
        Turn("customer", "你好，我的包裹三天没更新了，能帮忙查一下吗？"),
        Turn("agent", "已为您催促网点，请耐心等待。"),
        Turn("customer", "好的，谢谢。"),
    )
    rising = risk_of(analyzer, current, context=calm_start)
    assert alone.level == "yellow" and not alone.handoff  # one angry message: a human answer today
    assert rising.score > alone.score and LEVELS.index(rising.level) >= LEVELS.index(alone.level)
    assert "rising_intensity" in [r.signal for r in rising.reasons]
    assert rising.handoff  # heating up across turns: hand it to a person now
    already_hot = (Turn("customer", "气死了！！你们到底管不管？一拖再拖！"),)
    flat = risk_of(analyzer, current, context=already_hot)
    assert "rising_intensity" not in [r.signal for r in flat.reasons] and not flat.handoff
