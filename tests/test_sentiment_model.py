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
    ("麻烦问下，周末可以上门安装空调吗？", "neutral"),  # not in any training file
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
        assert a.sentiment == b.sentiment  # exactly: an answer never depends on its batch neighbours


LONG_COMPLAINT = (
    "我上个月十五号在你们官方旗舰店买了一台双开门冰箱，当时页面写的是三天内送货上门并免费安装。"
    "结果下单以后整整一个星期都没有任何物流信息，我打了四次客服电话，每次都说在安排，让我耐心等待。"
    "第二个星期终于送来了，但是送货师傅说安装要另外收两百块钱，不给钱就不装，态度非常恶劣。"
    "我只好自己付了钱，装好以后第三天冰箱就开始有很大的噪音，晚上根本睡不着觉。"
    "冷藏室的温度也一直降不下来，买的菜放了两天就坏了，牛奶也变质了，损失了好几百块。"
    "我申请售后，维修人员拖了五天才上门，看了一眼说是压缩机的问题，要返厂维修，至少要等一个月。"
    "这一个月我家里没有冰箱可以用，大夏天的，家里还有老人和孩子，真的非常不方便。"
    "我要求换一台新的，客服说超过七天不能换货，只能维修，可是问题明明是第三天就出现的。"
    "我把当时的聊天记录和视频都发过去了，到现在也没有人给我一个明确的答复，一直在推来推去。"
    "花了五千多块钱买的东西，用了不到一个星期就坏了，服务还这么差，我对你们非常失望，"
    "如果这周之内还不给我处理，我就去消费者协会投诉，也会在网上把整个经过都发出来。"
)


def test_long_text_uses_windows_and_keeps_polarity(registry: Registry) -> None:
    """A real long complaint spans several 256-token windows; pooling them keeps it negative."""
    encoder = registry.analyzer.encoder
    [tokenized] = encoder.preprocess([LONG_COMPLAINT])
    assert len(tokenized.windows) >= 2
    [r] = analyze(registry, [LONG_COMPLAINT])
    assert r.sentiment.label == "negative"
    assert r.truncated is False
    # sentences in the second window are scored from that window's states, with their own offsets
    sentences = r.sentiment.sentences
    assert len(sentences) == LONG_COMPLAINT.count("。") == 10
    assert [s.label for s in sentences].count("negative") >= len(sentences) - 2
    assert sentences[-1].end == len(LONG_COMPLAINT) and LONG_COMPLAINT[sentences[-1].start :].startswith("花了")


def test_sentences_carry_their_own_labels_from_the_same_pass(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A complaint that mixes thanks and grievance: each sentence is labelled, offsets into the text as sent."""
    text = "快遞員送貨很快，服務很好，謝謝！但是收到的手機螢幕是碎的，太失望了，要求退貨。"
    encoder = registry.analyzer.encoder
    calls: list[int] = []
    forward = encoder.forward
    monkeypatch.setattr(encoder, "forward", lambda items: calls.append(len(items)) or forward(items))
    [result] = analyze(registry, [text])
    assert calls == [1]  # both sentence labels came from the message's single encoder pass
    sentences = result.sentiment.sentences
    assert sentences is not None
    assert [text[s.start : s.end] for s in sentences] == [
        "快遞員送貨很快，服務很好，謝謝！",
        "但是收到的手機螢幕是碎的，太失望了，要求退貨。",
    ]
    assert [s.label for s in sentences] == ["positive", "negative"]
