"""The neutral prior offset: chosen on the leave-one-source-out folds, folded into the served head's bias."""

from __future__ import annotations

import numpy as np

from models.heads import softmax
from models.pooled import PooledHead
from training.sentiment import loso
from training.sentiment.recipe import with_neutral_offset


def _fold(logits: list[list[float]], y: list[int]) -> loso.Fold:
    return loso.Fold(np.array(logits, np.float32), np.array(y, np.int64), 1.0)


def test_offset_moves_borderline_texts_to_neutral_only() -> None:
    # Two polar texts the head is sure of, two neutral texts it calls polar by a small margin.
    fold = _fold([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.6, 0.0, 0.0], [0.0, 0.0, 0.4]], [0, 2, 1, 1])
    before = loso.score({"s": fold}, 0.0)["s"]
    after = loso.score({"s": fold}, 1.0)["s"]
    assert before["neutral_recall"] == 0.0
    assert after["neutral_recall"] == 1.0
    assert after["accuracy"] == 1.0
    # pos/neg accuracy compares P(positive) with P(negative): an offset on neutral leaves it alone
    assert after["pos_neg_accuracy"] == before["pos_neg_accuracy"] == 1.0


def test_choose_offset_takes_the_worst_source_only_while_both_means_hold() -> None:
    def table(a: float, b: float, neg_a: float, neg_b: float) -> dict[str, dict[str, float]]:
        return {"a": {"macro_f1": a, "negative_f1": neg_a}, "b": {"macro_f1": b, "negative_f1": neg_b}}

    tables = {
        -0.5: table(0.80, 0.28, 0.84, 0.42),  # the best means, but a worse worst source
        0.0: table(0.80, 0.30, 0.80, 0.40),  # no offset: macro-F1 0.55, negative F1 0.60
        0.5: table(0.76, 0.33, 0.79, 0.40),  # both means within 0.01 of no offset, better worst source
        1.0: table(0.62, 0.45, 0.70, 0.40),  # best worst source, but costs both means
    }
    assert loso.choose_offset(tables) == 0.5
    assert loso.choose_offset(tables, tolerance=0.0) == 0.0
    assert loso.choose_offset(tables, tolerance=0.1) == 1.0
    # complaint detection alone can veto an offset that keeps the macro-F1 mean
    tables[0.5] = table(0.76, 0.33, 0.70, 0.40)
    assert loso.choose_offset(tables) == 0.0


def test_folded_offset_equals_adding_it_after_the_temperature() -> None:
    rng = np.random.default_rng(0)
    layers = (
        (rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)),
        (rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)),
    )
    head = PooledHead(
        name="sentiment",
        labels=("negative", "neutral", "positive"),
        mean=np.zeros(6, np.float32),
        scale=np.ones(6, np.float32),
        layers=layers,
        temperature=1.7,
        version="t",
        config={},
    )
    x = rng.normal(size=(5, 6)).astype(np.float32)
    expected = softmax(head.logits(x) / np.float32(1.7) + loso.prior(0.75))
    np.testing.assert_allclose(with_neutral_offset(head, 0.75).proba(x), expected, rtol=1e-5, atol=1e-6)
    assert with_neutral_offset(head, 0.0).proba(x).tolist() == head.proba(x).tolist()
