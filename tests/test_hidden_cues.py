"""The hidden-dissatisfaction lexicon/rule layer: cue spans, explicit words, context features (no model)."""

from __future__ import annotations

import pytest

from models.hidden.context import CONTEXT_FEATURES, ContextReader
from models.hidden.cues import CUE_TYPES, CueFinder, ExplicitLexicon
from models.hidden.score import ALL_FEATURES, Evidence, ScoreModel, feature_values
from models.pipeline import Turn
from models.text import normalize
from training.data import project_lines


@pytest.fixture(scope="module")
def finder() -> CueFinder:
    return CueFinder.load()


@pytest.fixture(scope="module")
def explicit() -> ExplicitLexicon:
    return ExplicitLexicon.load()


def cues(finder: CueFinder, text: str) -> list[tuple[str, str, int, int]]:
    return [(c.type, c.text, c.start, c.end) for c in finder.find(normalize(text))]


def test_every_pattern_matches_its_documented_example(finder: CueFinder) -> None:
    assert {p.type for p in finder.patterns} == set(CUE_TYPES)
    for pattern in finder.patterns:
        found = {c.type for c in finder.find(normalize(pattern.example))}
        assert pattern.type in found, (pattern.type, pattern.example)


def test_issue_examples_have_the_expected_spans(finder: CueFinder) -> None:
    assert cues(finder, "你们的效率真是让人佩服，一周了还没发货") == [
        ("sarcasm", "效率真是让人佩服", 3, 11),
        ("factual_complaint", "一周了还没发货", 12, 19),
    ]
    # politeness + giving up is one piece of evidence, from the first 好的 to the last 没办法
    assert cues(finder, "好的，谢谢，那就这样吧，反正也没办法") == [
        ("polite_resignation", "好的，谢谢，那就这样吧，反正也没办法", 0, 18)
    ]
    assert cues(finder, "这就是你们的售后？") == [("rhetorical_question", "这就是你们的售后？", 0, 9)]
    assert ("sarcasm", "Thanks for sending the wrong shirt", 0, 34) in cues(
        finder, "Thanks for sending the wrong shirt."
    )


@pytest.mark.parametrize(
    "text",
    [
        "你們的效率真是讓人佩服，一週了還沒發貨",  # Traditional
        "ＴＨＡＮＫＳ ｆｏｒ sending the wrong shirt！",  # full-width Latin
        "訂單 https://shop.example.com/o/123 你們的效率真是讓人佩服，一週了還沒發貨",  # URL placeholder shifts offsets
        "  好的，，謝謝\u3000\u3000那就這樣吧，反正也沒辦法",  # collapsed whitespace
    ],
)
def test_spans_point_at_the_original_characters(finder: CueFinder, text: str) -> None:
    found = finder.find(normalize(text))
    assert found
    for cue in found:
        assert text[cue.start : cue.end] == cue.text
        assert cue.text.strip() == cue.text and cue.text


def test_traditional_spans_match_the_simplified_ones(finder: CueFinder) -> None:
    simplified = cues(finder, "你们的效率真是让人佩服，一周了还没发货")
    traditional = cues(finder, "你們的效率真是讓人佩服，一週了還沒發貨")
    assert [(t, s, e) for t, _, s, e in simplified] == [(t, s, e) for t, _, s, e in traditional]
    assert traditional[0][1] == "效率真是讓人佩服"


@pytest.mark.parametrize(
    ("text", "cue_type"),
    [
        ("东西不太满意", "negated_praise"),
        ("客服不怎么专业", "negated_praise"),
        ("还行吧，不算差", "negated_praise"),
        ("Not bad I guess.", "negated_praise"),
        ("The support was not exactly helpful.", "negated_praise"),
        ("呵呵，你们真行", "sarcasm"),
        ("太棒了，又延迟了", "sarcasm"),
        ("Great, another week of waiting.", "sarcasm"),
        ("难道我还要再等一周吗", "rhetorical_question"),
        ("有你们这样做生意的吗？", "rhetorical_question"),
        ("还要我怎样？", "rhetorical_question"),
        ("Is this how you treat customers?", "rhetorical_question"),
        ("行吧，算了", "polite_resignation"),
        ("OK, thanks anyway.", "polite_resignation"),
        ("这是我第三次打电话了", "factual_complaint"),
        ("打了五次电话都没人接", "factual_complaint"),
        ("说好的三天到货呢", "factual_complaint"),
        ("Two weeks later and still no refund.", "factual_complaint"),
        ("再也不买了", "threat_to_leave"),
        ("我要注销账户，换一家", "threat_to_leave"),
        ("I am cancelling my account.", "threat_to_leave"),
    ],
)
def test_cue_families(finder: CueFinder, text: str, cue_type: str) -> None:
    assert cue_type in finder.types(normalize(text).text)


@pytest.mark.parametrize(
    "text",
    [
        "好的，谢谢",  # ordinary politeness, no giving up
        "不满意",  # negation without a degree adverb is explicit, not hedged praise
        "物流很快，包装完好，非常满意，好评！",
        "我想把订单取消，还没发货",
        "请问这个订单什么时候发货？",
        "Thanks for your help, the refund arrived.",
    ],
)
def test_no_cue_on_plain_messages(finder: CueFinder, text: str) -> None:
    assert finder.types(normalize(text).text) == set()


def test_lexicon_is_quiet_on_neutral_service_messages(finder: CueFinder) -> None:
    lines = project_lines("neutral_service_zh.txt")
    flagged = [t for t in lines if finder.types(normalize(t).text)]
    assert len(flagged) <= 0.05 * len(lines), flagged


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("太慢了，客服态度也很差，非常失望！", True),
        ("一点不脆，特别难吃", True),  # 特别 is not a negation
        ("This is the worst service ever.", True),
        ("并不失望，挺好的", False),
        ("Not bad at all.", False),
        ("你们的效率真是让人佩服，一周了还没发货", False),
        ("Thanks for sending the wrong shirt.", False),
    ],
)
def test_explicit_negative_words(explicit: ExplicitLexicon, text: str, expected: bool) -> None:
    assert explicit.has(normalize(text).text) is expected


def test_context_features_read_the_earlier_turns(finder: CueFinder, explicit: ExplicitLexicon) -> None:
    reader = ContextReader.load(finder, explicit)
    assert reader.features("哦,好吧", ()) == dict.fromkeys(CONTEXT_FEATURES, 0.0)
    turns = (Turn("customer", "我的快递一周了还没到，什么时候发货？"), Turn("agent", "已发"))
    f = reader.features(normalize("哦，好吧").text, turns)
    assert f["ctx_present"] == f["ctx_agent_terse"] == f["ctx_ack_after_unhelpful"] == f["ctx_agent_unhelpful"] == 1.0
    assert f["ctx_earlier_cues"] > 0  # 一周了还没到: a factual complaint earlier
    repeat = reader.features(
        normalize("我的快递一周了还没到").text, (Turn("customer", "我的快递一周了还没到，什么时候发货？"),)
    )
    assert repeat["ctx_customer_repeat"] == 1.0
    en = reader.features("ok, thanks.", (Turn("agent", "Sorry, there are no rooms available on those dates."),))
    assert en["ctx_agent_unhelpful"] == en["ctx_ack_after_unhelpful"] == 1.0
    helpful = reader.features("ok, thanks.", (Turn("agent", "Your refund of 30 yuan has been sent, please check."),))
    assert helpful["ctx_agent_unhelpful"] == helpful["ctx_ack_after_unhelpful"] == 0.0


def test_score_model_round_trip_and_feature_names() -> None:
    model = ScoreModel(("branch_hidden", "cue_sarcasm"), (1.5, 0.8), -0.2)
    assert ScoreModel.from_json(model.to_json()) == model
    values = feature_values(Evidence((0.2, 0.7, 0.1), (0.1, 0.3, 0.6), frozenset({"sarcasm"}), False))
    assert set(values) == set(ALL_FEATURES)
    with_cue = model.score(values)
    without = model.score({**values, "cue_sarcasm": 0.0})
    assert 0.0 < without < with_cue < 1.0
    with pytest.raises(ValueError, match="feature set"):
        ScoreModel(("no_such_feature",), (1.0,), 0.0)
