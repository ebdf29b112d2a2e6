"""Real predictions of the served hidden-dissatisfaction stage (real encoder, pooled head, score layer)."""

from __future__ import annotations

import pytest

from models.hidden.score import logit
from models.pipeline import AnalysisInput, Turn
from models.registry import Registry
from models.schema import Analysis, HiddenDissatisfaction

pytestmark = pytest.mark.model

#: The issue's four examples (none of them is in the training data: see the last test).
ISSUE_EXAMPLES = [
    "好的，谢谢，那就这样吧，反正也没办法",
    "你们的效率真是让人佩服，一周了还没发货",
    "这就是你们的售后？",
    "Thanks for sending the wrong shirt.",
]
HIDDEN = [
    *ISSUE_EXAMPLES,
    "你們的效率真是讓人佩服，一週了還沒發貨",  # Traditional
    "Great, another week of waiting for my refund.",
]
PLAINLY_NEGATIVE = [
    "太慢了，客服态度也很差，非常失望！垃圾！",
    "This is the worst service I have ever had. I am furious.",
]
PLAINLY_POSITIVE = [
    "物流很快，包装完好，非常满意，好评！",
    "Great product, fast delivery, I love it!",
]


def analyze(registry: Registry, items: list[AnalysisInput]) -> list[Analysis]:
    return registry.analyzer.analyze_batch(items)


def hidden(result: Analysis) -> HiddenDissatisfaction:
    assert result.hidden_dissatisfaction is not None, "the hidden stage is not served: run `tousu train hidden`"
    return result.hidden_dissatisfaction


@pytest.fixture(scope="module")
def results(registry: Registry) -> dict[str, Analysis]:
    texts = HIDDEN + PLAINLY_NEGATIVE + PLAINLY_POSITIVE
    return dict(zip(texts, analyze(registry, [AnalysisInput.prepare(t) for t in texts]), strict=True))


@pytest.mark.parametrize("text", HIDDEN)
def test_quiet_complaints_are_detected(results: dict[str, Analysis], text: str) -> None:
    """Every quiet complaint is caught: by the hidden score whenever sentiment does not already read it as
    negative (that is the score's definition: dissatisfied *without* negative-sounding words; a sarcastic
    line that sentiment reads as negative may score low here), and so always by the README's routing rule."""
    r = results[text]
    h = hidden(r)
    assert r.sentiment is not None
    assert h.detected or r.sentiment.label == "negative", (text, h.score, r.sentiment.label)
    assert h.cues, text


@pytest.mark.parametrize("text", PLAINLY_NEGATIVE)
def test_an_angry_message_is_negative_not_hidden(results: dict[str, Analysis], text: str) -> None:
    r = results[text]
    assert r.sentiment is not None and r.sentiment.label == "negative"
    assert not hidden(r).detected, hidden(r).score


@pytest.mark.parametrize("text", PLAINLY_POSITIVE)
def test_a_happy_message_is_not_detected(results: dict[str, Analysis], text: str) -> None:
    h = hidden(results[text])
    assert not h.detected and h.score < 0.2, h.score


def test_scores_are_probabilities_and_the_threshold_decides(results: dict[str, Analysis], registry: Registry) -> None:
    stage = next(s for s in registry.analyzer.stages if s.name == "hidden_dissatisfaction")
    threshold = stage.threshold  # type: ignore[attr-defined]
    for r in results.values():
        h = hidden(r)
        assert 0.0 <= h.score <= 1.0
        assert h.detected == (h.score >= threshold) or abs(h.score - threshold) < 1e-4


def test_cues_point_at_the_original_text(results: dict[str, Analysis]) -> None:
    for text in ("你們的效率真是讓人佩服，一週了還沒發貨", "你们的效率真是让人佩服，一周了还没发货"):
        cues = hidden(results[text]).cues
        assert {c.type for c in cues} == {"sarcasm", "factual_complaint"}
        for c in cues:
            assert text[c.start : c.end] == c.text
        assert [(c.start, c.end) for c in cues] == [(3, 11), (12, 19)]


def test_context_changes_the_score_in_the_expected_direction(registry: Registry) -> None:
    asked = Turn("customer", "我的快递一周了还没到，到底什么时候发货？")
    stock = Turn("agent", "已发")
    helpful = Turn("agent", "已为您加急处理，快递明天上午送达，运费我们也退给您了。")
    sorry = Turn("agent", "Sorry, there are no rooms available on those dates.")
    booked = Turn("agent", "Your room is booked for Friday, the confirmation number is 4821.")
    items = [
        AnalysisInput.prepare("哦，好吧"),
        AnalysisInput.prepare("哦，好吧", context=(asked, stock)),
        AnalysisInput.prepare("哦，好吧", context=(asked, helpful)),
        AnalysisInput.prepare("OK, thanks."),
        AnalysisInput.prepare("OK, thanks.", context=(sorry,)),
        AnalysisInput.prepare("OK, thanks.", context=(booked,)),
    ]
    scores = [hidden(r).score for r in analyze(registry, items)]
    # Context features add to the score's log-odds, so their effect is measured there: the same shift
    # moves a low score less in probability than a middling one.
    zh_bare, zh_stock, zh_helpful, en_bare, en_sorry, en_booked = (logit(s) for s in scores)
    assert zh_stock > zh_bare + 0.5
    assert zh_stock > zh_helpful
    assert en_sorry > en_bare + 0.5
    assert en_sorry > en_booked
    # Round 1 also flagged "哦，好吧" after the stock answer; the pooled head's score layer gives the agent-turn
    # features less weight (0.34 against a threshold of 0.44): a known regression, in the hidden model card.


def test_context_does_not_change_the_encoder_work(registry: Registry) -> None:
    """Context is read by lexicon features: the same message gets the same sentiment with or without it."""
    bare, with_context = analyze(
        registry,
        [
            AnalysisInput.prepare("哦，好吧"),
            AnalysisInput.prepare("哦，好吧", context=(Turn("agent", "已发"),)),
        ],
    )
    assert bare.sentiment == with_context.sentiment
    assert hidden(bare).cues == hidden(with_context).cues


def test_issue_examples_are_not_training_data() -> None:
    from training.hidden.data import build

    splits, _ = build()
    texts = {e.text for split in splits.values() for e in split}
    assert not texts & set(ISSUE_EXAMPLES)
