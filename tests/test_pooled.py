"""Pooled heads: files, batch invariance, span (sentence) features, sentence splitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.encoder import EncoderOutput
from models.fake import FakeEncoder, random_pooled_head
from models.pooled import load_pooled, pooled_features, span_features
from models.sentiment import sentence_spans


def encode(texts: list[str]) -> list[EncoderOutput]:
    encoder = FakeEncoder(hidden_size=8)
    return encoder.forward(encoder.preprocess(texts))


def test_save_load_round_trip_gives_the_same_probabilities(tmp_path: Path) -> None:
    head = random_pooled_head(16)
    outputs = encode(["物流太慢了", "what time do you open?"])
    head.save(tmp_path)
    loaded, spec = load_pooled("sentiment", tmp_path, "fake-encoder", "fake-1")
    np.testing.assert_array_equal(loaded.sequence_proba(outputs), head.sequence_proba(outputs))
    assert spec.kind == "pooled" and spec.version == loaded.version and len(loaded.version) == 12
    assert np.allclose(loaded.sequence_proba(outputs).sum(axis=1), 1.0, atol=1e-5)


def test_a_head_trained_on_another_encoder_is_refused(tmp_path: Path) -> None:
    random_pooled_head(16, encoder="e5-small/int8-000000000000").save(tmp_path)
    with pytest.raises(ValueError, match="trained on"):
        load_pooled("sentiment", tmp_path, "fake-encoder", "fake-1")


def test_answers_do_not_depend_on_the_batch() -> None:
    head = random_pooled_head(16)
    texts = ["短", "一条比较长的消息，里面有好几个字。", "mixed 中英 text"]
    together = head.sequence_proba(encode(texts))
    alone = np.concatenate([head.sequence_proba(encode([t])) for t in texts])
    np.testing.assert_array_equal(together, alone)


def test_a_span_over_the_whole_message_has_the_message_features() -> None:
    [out] = encode(["退款一直没到账"])
    whole = pooled_features([out])[0]
    np.testing.assert_allclose(span_features(out, [(0, 7)])[0], whole, rtol=1e-5, atol=1e-6)
    part = span_features(out, [(0, 2), (2, 7)])
    assert part.shape == (2, 16) and not np.allclose(part[0], part[1])


def test_a_span_without_tokens_falls_back_to_the_message() -> None:
    [out] = encode(["abc"])
    np.testing.assert_allclose(span_features(out, [(10, 12)])[0], pooled_features([out])[0], rtol=1e-6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("谢谢你们的快递员。但是商品坏了！怎么办？", ["谢谢你们的快递员。", "但是商品坏了！", "怎么办？"]),
        (
            "Thanks for the quick reply. The item is still broken!",
            ["Thanks for the quick reply.", "The item is still broken!"],
        ),
        ("version 2.0 is out", ["version 2.0 is out"]),
        ("第一行\n\n第二行", ["第一行", "第二行"]),
        ("他说：“太慢了！”然后走了。", ["他说：“太慢了！”", "然后走了。"]),
        ("...!!!", []),
    ],
)
def test_sentence_spans(text: str, expected: list[str]) -> None:
    assert [text[a:b] for a, b in sentence_spans(text)] == expected
