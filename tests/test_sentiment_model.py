"""Real predictions of the served encoder + sentiment head on clear cases."""

from __future__ import annotations

import pytest

from models.pipeline import AnalysisInput
from models.registry import Registry

pytestmark = pytest.mark.model

CLEAR = [
    ("快递太慢了，客服态度也很差，非常失望！", "negative"),
    ("质量很差，用了两天就坏了，垃圾产品", "negative"),
    ("物流很快，包装完好，非常满意，好评！", "positive"),
    ("東西很好用，客服也很熱情，推薦購買！", "positive"),
    ("This is the worst service I have ever had. Totally disappointed.", "negative"),
    ("Great product, fast delivery, I love it!", "positive"),
    ("请问这个订单什么时候发货？", "neutral"),
    ("What time does the store open on Sunday?", "neutral"),
]


def analyze(registry: Registry, texts: list[str]) -> list:  # type: ignore[type-arg]
    return registry.analyzer.analyze_batch([AnalysisInput.prepare(t) for t in texts])


def test_clear_cases_in_both_languages(registry: Registry) -> None:
    results = analyze(registry, [t for t, _ in CLEAR])
    got = [r.sentiment.label for r in results]
    assert got == [label for _, label in CLEAR]
    for r in results:
        p = r.sentiment.probabilities
        assert abs(p.negative + p.neutral + p.positive - 1) < 1e-3
        assert r.sentiment.score == max(p.negative, p.neutral, p.positive)


def test_intensity_follows_strength_not_length(registry: Registry) -> None:
    mild, strong = analyze(registry, ["物流有点慢。", "太慢了！！气死我了，再也不会买了，垃圾！"])
    assert mild.sentiment.intensity < strong.sentiment.intensity
    base = "客服态度很差，问题一直没解决。"
    [single, repeated] = analyze(registry, [base, base * 8])
    assert repeated.sentiment.label == single.sentiment.label == "negative"
    assert repeated.sentiment.intensity <= single.sentiment.intensity + 0.05


def test_traditional_and_simplified_agree(registry: Registry) -> None:
    simp, trad = analyze(registry, ["这个手机质量太差了，退货！", "這個手機質量太差了，退貨！"])
    assert trad.traditional and not simp.traditional
    assert trad.sentiment == simp.sentiment


def test_batch_and_single_give_the_same_answer(registry: Registry) -> None:
    texts = [t for t, _ in CLEAR]
    batched = analyze(registry, texts)
    single = [analyze(registry, [t])[0] for t in texts]
    for a, b in zip(batched, single, strict=True):
        assert a.sentiment.label == b.sentiment.label
        assert abs(a.sentiment.score - b.sentiment.score) < 1e-3


def test_long_text_uses_windows_and_keeps_polarity(registry: Registry) -> None:
    long = "我上周买的冰箱到现在还没送到，" * 60 + "非常生气！"
    [r] = analyze(registry, [long])
    assert r.sentiment.label == "negative"
    assert r.truncated is False
