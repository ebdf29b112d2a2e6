"""Risk stage without the encoder: lexicons, signals, scorer, in-process repetition, cache bypass.

The scorer tests use the SHIPPED config (``models/heads/risk/risk.json``) to show that every signal
raises the score and is named in the reasons, and a controlled config to show each one moving the
level. Signal inputs are controlled blocks, so each test says exactly what it changes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.fake import FakeEncoder, fake_sentiment
from models.pipeline import AnalysisInput, Analyzer, Turn
from models.registry import Registry
from models.risk.config import SIGNALS, RiskConfig, load_prior
from models.risk.lexicon import Lexicons
from models.risk.repetition import MemoryRepetitionStore, Repeat, RepetitionTracker
from models.risk.scorer import RiskScorer, Signal, sigmoid
from models.risk.signals import SignalExtractor, stated_count
from models.risk.stage import RiskStage, load_risk_stage, stage_version
from models.settings import DEFAULT_HEADS_DIR
from models.spec import ModelSpec
from models.stages import StageEnv
from service.app import create_app
from service.settings import Settings

SHIPPED = DEFAULT_HEADS_DIR / "risk" / "risk.json"


@pytest.fixture(scope="module")
def config() -> RiskConfig:
    return RiskConfig.load(SHIPPED)


@pytest.fixture(scope="module")
def extractor(config: RiskConfig) -> SignalExtractor:
    return SignalExtractor(config.transforms)


def controlled(**overrides: Any) -> RiskConfig:
    """Every weight 2, bias -3: one signal at 1.0 alone lands in yellow (score 0.27), two in red (0.73)."""
    prior = load_prior()
    data = {
        "version": "test",
        "weights": dict.fromkeys(SIGNALS, 2.0),
        "bias": -3.0,
        "thresholds": {"yellow": 0.2, "red": 0.6},
        "transforms": prior["transforms"],
        "handoff": prior["handoff"],
        **overrides,
    }
    return RiskConfig.from_dict(data)


def sentiment(neg: float, pos: float, intensity: float) -> dict[str, Any]:
    return {
        "label": "negative" if neg > pos else "neutral",
        "score": max(neg, pos),
        "intensity": intensity,
        "probabilities": {"negative": neg, "neutral": 1 - neg - pos, "positive": pos},
    }


CALM = sentiment(0.02, 0.1, 0.06)


# --- lexicons ------------------------------------------------------------------------------------


def test_lexicon_boundaries_and_false_friends() -> None:
    lex = Lexicons.load()
    assert [h.text for h in lex.find("escalation_threat", "我要打12315投诉")] == ["12315"]
    assert lex.find("escalation_threat", "订单号 2023123150001 已发货") == []  # digits inside a longer number
    assert [h.text for h in lex.find("escalation_threat", "我要去BBB投诉")] == ["BBB"]  # Latin next to CJK
    assert lex.find("escalation_threat", "请问一氧化碳报警器怎么装") == []  # 报警器 is an alarm, not the police
    assert [h.text for h in lex.find("escalation_threat", "我已经报警了")] == ["报警"]
    assert lex.find("urgency", "不急，不着急，慢慢来") == []
    assert [h.text for h in lex.find("urgency", "我很着急")] == ["着急"]
    assert lex.find("urgency", "进了急诊") == []
    assert [h.text for h in lex.find("churn_threat", "I can’t stand it, cancel my account")] == ["cancel my account"]
    assert lex.find("escalation_threat", "the food court was closed") == []


def test_stated_repetition_counts() -> None:
    assert stated_count("第三次") == 3
    assert stated_count("两次了") == 2
    assert stated_count("third time") == 3
    assert stated_count("12 times") == 12
    assert stated_count("多次") == 3  # no number: counts as three


# --- scorer --------------------------------------------------------------------------------------


def test_config_refuses_negative_weights_and_unordered_thresholds() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        controlled(weights={"urgency": -0.5})
    with pytest.raises(ValueError, match="yellow"):
        controlled(thresholds={"yellow": 0.7, "red": 0.6})
    with pytest.raises(ValueError, match="unknown"):
        controlled(weights={"moon_phase": 1.0})


def test_shipped_config_is_monotone_and_versioned(config: RiskConfig) -> None:
    assert all(w >= 0 for w in config.weights.values())
    assert all(config.weights[s] > 0 for s in SIGNALS), config.weights  # every signal can move the score
    assert 0 < config.yellow < 0.5 < config.red < 1
    assert stage_version(config).startswith(config.version + "+")


def test_score_is_sigmoid_of_bias_plus_contributions(config: RiskConfig) -> None:
    signals = {
        "escalation_threat": Signal(1.0, "threat"),
        "urgency": Signal(1.0, "urgency"),
        "negative_intensity": Signal(0.4, "neg"),
    }
    risk = RiskScorer(config).score(signals)
    logit = config.bias + sum(r.contribution for r in risk.reasons)
    assert risk.score == pytest.approx(sigmoid(logit), abs=1e-3)
    assert [r.contribution for r in risk.reasons] == sorted((r.contribution for r in risk.reasons), reverse=True)
    assert risk.reasons[0].signal == "escalation_threat"


@pytest.mark.parametrize("name", SIGNALS)
def test_each_signal_raises_the_shipped_score_and_is_named(config: RiskConfig, name: str) -> None:
    scorer = RiskScorer(config)
    base = {"negative_intensity": Signal(0.3, "neg")} if name != "negative_intensity" else {}
    before = scorer.score(base)
    after = scorer.score({**base, name: Signal(1.0, f"{name} fired", "x", 0, 1)})
    assert after.score > before.score
    assert name in [r.signal for r in after.reasons]
    assert name not in [r.signal for r in before.reasons]
    assert ["blue", "yellow", "red"].index(after.level) >= ["blue", "yellow", "red"].index(before.level)


@pytest.mark.parametrize("name", SIGNALS)
def test_each_signal_moves_the_level_up(name: str) -> None:
    scorer = RiskScorer(controlled())
    assert scorer.score({}).level == "blue"
    one = scorer.score({name: Signal(1.0, "on")})
    assert one.level == "yellow" and one.reasons[0].signal == name
    other = "urgency" if name != "urgency" else "churn_threat"
    assert scorer.score({name: Signal(1.0, "on"), other: Signal(1.0, "on")}).level == "red"


def test_shipped_levels_for_strong_single_signals(config: RiskConfig) -> None:
    scorer = RiskScorer(config)
    assert scorer.score({}).level == "blue"
    for name in ("escalation_threat", "safety_legal"):  # rule 1 and 2 of red: alone enough
        assert scorer.score({name: Signal(1.0, "on")}).level == "red"
    assert scorer.score({"repetition": Signal(1.0, "4th"), "negative_intensity": Signal(0.2, "neg")}).level == "red"


def test_handoff_rules() -> None:
    scorer = RiskScorer(controlled())
    assert scorer.score({"urgency": Signal(1.0, "u"), "churn_threat": Signal(1.0, "c")}).handoff  # red
    assert not scorer.score({"urgency": Signal(1.0, "u")}).handoff  # yellow, nothing that needs a human
    assert scorer.score({"repetition": Signal(1.0, "r")}).handoff  # yellow + repetition
    assert scorer.score({"rising_intensity": Signal(1.0, "r")}).handoff
    assert scorer.score({"safety_legal": Signal(1.0, "s")}).handoff
    assert not scorer.score({}).handoff


# --- signals from controlled blocks ---------------------------------------------------------------


def test_escalation_span_maps_to_the_original_traditional_text(extractor: SignalExtractor) -> None:
    text = "你們再不處理，我就打１２３１５投訴！"  # Traditional and full-width digits
    item = AnalysisInput.prepare(text)
    s = extractor.extract(item, "zh", {"sentiment": CALM})["escalation_threat"]
    assert s.value == 1.0
    assert s.start is not None and s.end is not None
    assert text[s.start : s.end] == "１２３１５" == s.text


def test_absent_blocks_give_no_signal(extractor: SignalExtractor) -> None:
    item = AnalysisInput.prepare("请问发票怎么开？")
    assert extractor.extract(item, "zh", {}) == {}
    blocks = {"sentiment": None, "hidden_dissatisfaction": None, "entities": None, "category": None}
    assert extractor.extract(item, "zh", blocks) == {}


def test_negative_intensity_only_when_negative_outweighs_positive(extractor: SignalExtractor) -> None:
    item = AnalysisInput.prepare("气死我了，太差了")
    s = extractor.extract(item, "zh", {"sentiment": sentiment(0.9, 0.02, 0.85)})["negative_intensity"]
    assert s.value == pytest.approx(0.85)
    assert s.text == "气死"  # the strongest degree cue is the evidence
    assert "negative_intensity" not in extractor.extract(item, "zh", {"sentiment": sentiment(0.1, 0.8, 0.7)})


def test_a_neutral_message_leaning_negative_by_noise_is_no_signal(extractor: SignalExtractor) -> None:
    item = AnalysisInput.prepare("请问信用卡账单日可以改到每月5号吗?")
    calm = extractor.extract(item, "zh", {"sentiment": sentiment(0.01, 0.0, 0.01)})  # P(neutral) 0.99
    assert "negative_intensity" not in calm
    mixed = extractor.extract(item, "zh", {"sentiment": sentiment(0.3, 0.1, 0.2)})
    assert mixed["negative_intensity"].value == 0.2


def test_hidden_dissatisfaction_and_its_threat_to_leave_cue(extractor: SignalExtractor) -> None:
    text = "你们的效率真让人佩服，下次不来了"
    hidden = {
        "detected": True,
        "score": 0.8,
        "cues": [
            {"type": "sarcasm", "text": "效率真让人佩服", "start": 3, "end": 10},
            {"type": "threat_to_leave", "text": "下次不来了", "start": 11, "end": 16},
        ],
    }
    out = extractor.extract(AnalysisInput.prepare(text), "zh", {"hidden_dissatisfaction": hidden})
    assert out["hidden_dissatisfaction"].value == 0.8 and out["hidden_dissatisfaction"].text == "效率真让人佩服"
    assert out["churn_threat"].start == 11 and "cue" in out["churn_threat"].detail  # lexicons missed 下次不来了
    not_detected = {**hidden, "detected": False}
    out = extractor.extract(AnalysisInput.prepare(text), "zh", {"hidden_dissatisfaction": not_detected})
    assert "hidden_dissatisfaction" not in out and "churn_threat" in out  # cues are evidence either way


def money(amount: float, currency: str | None, text: str, start: int) -> dict[str, Any]:
    normalized = {"amount": amount, "currency": currency}
    return {"type": "MONEY", "text": text, "start": start, "end": start + len(text), "normalized": normalized}


def test_money_at_stake_is_log_scaled_in_cny(extractor: SignalExtractor) -> None:
    item = AnalysisInput.prepare("多扣了我3000元和50元")
    small = extractor.extract(item, "zh", {"entities": [money(50, "CNY", "50元", 11)]})
    assert "money_at_stake" not in small  # below the low end (100 CNY)
    both = [money(3000, "CNY", "3000元", 4), money(50, "CNY", "50元", 11)]
    s = extractor.extract(item, "zh", {"entities": both})["money_at_stake"]
    assert s.value == pytest.approx(math.log10(30) / 3, abs=1e-6)
    assert s.text == "3000元" and s.start == 4  # the largest amount is the evidence
    dollars = extractor.extract(item, "en", {"entities": [money(3000, "USD", "$3000", 0)]})["money_at_stake"]
    assert dollars.value > s.value  # converted with the rate table
    default = extractor.extract(item, "en", {"entities": [money(3000, None, "3000", 0)]})["money_at_stake"]
    assert default.value == dollars.value  # no currency: the language's default (en -> USD)
    assert "money_at_stake" not in extractor.extract(item, "zh", {"entities": [money(9e9, "XYZ", "9e9", 0)]})


def test_repetition_from_the_store_or_stated(extractor: SignalExtractor) -> None:
    item = AnalysisInput.prepare("退款还是没到")
    assert "repetition" not in extractor.extract(item, "zh", {}, Repeat(1, 86400, None))
    two = extractor.extract(item, "zh", {}, Repeat(2, 7 * 86400, None))["repetition"]
    four = extractor.extract(item, "zh", {}, Repeat(4, 7 * 86400, None))["repetition"]
    assert 0 < two.value < four.value == 1.0
    assert "message 4" in four.detail and "7 days" in four.detail
    stated = extractor.extract(AnalysisInput.prepare("这是我第三次联系你们了"), "zh", {})["repetition"]
    assert stated.text == "第三次" and "stated" in stated.detail


def test_rising_intensity_across_customer_turns(extractor: SignalExtractor) -> None:
    current = "你们到底管不管？！再拖我就投诉到消协！"
    calm = (Turn("customer", "你好，请问我的包裹什么时候到？"), Turn("agent", "已为您催促。"))
    rising = extractor.extract(AnalysisInput.prepare(current, context=calm), "zh", {})["rising_intensity"]
    assert rising.value > 0.3 and "earlier customer turns" in rising.detail
    hot = (Turn("customer", "气死了！！你们到底管不管？再拖我就去投诉到12315！"),)
    assert "rising_intensity" not in extractor.extract(AnalysisInput.prepare(current, context=hot), "zh", {})
    agent_only = (Turn("agent", "请问还有什么可以帮您？"),)
    assert "rising_intensity" not in extractor.extract(AnalysisInput.prepare(current, context=agent_only), "zh", {})


# --- repetition: in-process store and tracker ------------------------------------------------------


def test_memory_store_counts_within_the_window() -> None:
    now = [1000.0]
    store = MemoryRepetitionStore(clock=lambda: now[0])
    assert store.record("k", "e1", 1000.0, 100.0) == 1
    assert store.record("k", "e2", 1050.0, 100.0) == 2
    assert store.record("k", "e2", 1050.0, 100.0) == 2  # the same event twice counts once
    assert store.record("k", "e3", 1120.0, 100.0) == 2  # e1 fell out of the window
    assert store.record("other", "e1", 1120.0, 100.0) == 1
    now[0] = 5000.0  # the key expired (TTL = window after its last write)
    assert store.record("k", "e4", 5000.0, 100.0) == 1


def test_memory_store_is_bounded() -> None:
    store = MemoryRepetitionStore(max_keys=3, max_events_per_key=2)
    for i in range(5):
        store.record(f"k{i}", "e", 1.0, 100.0)
    assert len(store) == 3
    for i in range(5):
        assert store.record("busy", f"e{i}", float(i), 100.0) <= 2


def test_tracker_hashes_customer_and_is_idempotent_with_received_at() -> None:
    store = MemoryRepetitionStore()
    tracker = RepetitionTracker(store, 7 * 86400)
    assert tracker.count(AnalysisInput.prepare("hi"), {}) is None  # no customer id: no repetition
    at = datetime.now(UTC) - timedelta(days=3)  # within the 7-day window of "now" (the calls below without a time)
    first = AnalysisInput.prepare("退款没到", customer_id="13800138000", received_at=at)
    assert tracker.count(first, {}).count == 1  # type: ignore[union-attr]
    assert tracker.count(first, {}).count == 1  # type: ignore[union-attr]  # a retry of the same message
    later = AnalysisInput.prepare("退款没到", customer_id="13800138000", received_at=at + timedelta(days=1))
    assert tracker.count(later, {}).count == 2  # type: ignore[union-attr]
    assert not any("13800138000" in key for key in store._data)  # never the raw id
    again = AnalysisInput.prepare("还是没到", customer_id="13800138000")  # no received_at: every call counts
    assert tracker.count(again, {}).count == 3  # type: ignore[union-attr]
    assert tracker.count(again, {}).count == 4  # type: ignore[union-attr]


def test_tracker_by_category_separates_issues() -> None:
    tracker = RepetitionTracker(MemoryRepetitionStore(), 86400, by_category=True)
    item = AnalysisInput.prepare("x", customer_id="c1")
    assert tracker.count(item, {"category": {"name": "billing", "score": 0.9}}).count == 1  # type: ignore[union-attr]
    assert tracker.count(item, {"category": {"name": "logistics_delay"}}).count == 1  # type: ignore[union-attr]
    repeat = tracker.count(item, {"category": {"name": "billing"}})
    assert repeat is not None and repeat.count == 2 and repeat.issue == "billing"


def test_stage_loader_reads_the_shipped_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOUSU_REDIS_URL", raising=False)
    env = StageEnv(heads_dir=DEFAULT_HEADS_DIR, artifacts_dir=tmp_path, encoder=FakeEncoder())
    loaded = load_risk_stage(env)
    assert loaded is not None
    stage, spec = loaded
    assert stage.stateful and spec.name == "risk" and spec.metrics["repetition"]["store"] == "memory"
    assert load_risk_stage(StageEnv(heads_dir=tmp_path, artifacts_dir=tmp_path, encoder=FakeEncoder())) is None


# --- the answer cache must not serve history-dependent answers ------------------------------------


def risk_registry(config: RiskConfig) -> Registry:
    encoder = FakeEncoder()
    tracker = RepetitionTracker(MemoryRepetitionStore(), 7 * 86400)
    stage = RiskStage(config, SignalExtractor(config.transforms), tracker, stage_version(config))
    spec = ModelSpec("encoder/fake-encoder", "encoder", "-", "fake-1", "0" * 64, {})
    return Registry(Analyzer(encoder, fake_sentiment(encoder.hidden_size), (stage,)), (spec,))


async def test_answers_with_customer_id_bypass_the_cache(settings: Settings, config: RiskConfig) -> None:
    assert Analyzer(FakeEncoder(), fake_sentiment(16)).cacheable(AnalysisInput.prepare("x", customer_id="c"))
    app = create_app(settings, registry_loader=lambda _: risk_registry(config))
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    try:
        body = {"text": "退款还是没到账", "customer_id": "cust-42"}
        answers = [(await client.post("/v1/analyze", json=body)).json() for _ in range(3)]
        assert [a["cached"] for a in answers] == [False, False, False]
        reasons = [[r["signal"] for r in a["risk"]["reasons"]] for a in answers]
        assert "repetition" not in reasons[0] and "repetition" in reasons[2]
        assert answers[2]["risk"]["score"] > answers[0]["risk"]["score"]
        assert "message 3" in next(r["detail"] for r in answers[2]["risk"]["reasons"] if r["signal"] == "repetition")
        plain = [(await client.post("/v1/analyze", json={"text": "退款还是没到账"})).json() for _ in range(2)]
        assert [p["cached"] for p in plain] == [False, True]  # no customer id: cached as before
        batch = {"items": [{"text": "还没到", "customer_id": "cust-7"}, {"text": "还没到", "customer_id": "cust-7"}]}
        items = (await client.post("/v1/analyze/batch", json=batch)).json()["items"]
        counts = [[r["detail"] for r in i["risk"]["reasons"] if r["signal"] == "repetition"] for i in items]
        assert counts[0] == [] and "message 2" in counts[1][0]  # same text, same customer: two messages
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)
