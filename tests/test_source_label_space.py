"""A source that labels only some classes is scored only on those (``training.pooled.source_label_space``).

The shortcut it removes: review sources label negative / positive only, so a head scored against all
three classes learns "texts in the review style are never neutral", and a neutral question written like a
review (a customer message) comes back polar. Synthetic features make the shortcut explicit: feature 0
carries polarity, feature 1 neutrality (no opinion), both noisy, feature 2 the style of the two-class source
(anything in the three-class one).
"""

from __future__ import annotations

import numpy as np
import pytest

from training.pooled import HeadConfig, fit_head, source_label_space, source_weights

LABELS = ("negative", "neutral", "positive")
NEG, NEU, POS = 0, 1, 2


def test_mask_holds_the_classes_each_source_supplies() -> None:
    mask = source_label_space(["a", "b", "a", "b", "a"], [NEG, POS, NEU, NEG, POS], 3)
    assert mask.tolist() == [
        [True, True, True],
        [True, False, True],
        [True, True, True],
        [True, False, True],
        [True, True, True],
    ]


def _corpus(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    rows, labels, sources = [], [], []
    for _ in range(600):  # three-class source, every style (feature 2 says nothing about its labels)
        y = int(rng.integers(3))
        polarity = {NEG: -1.0, NEU: 0.0, POS: 1.0}[y]
        rows.append([polarity + rng.normal(0, 0.7), float(y == NEU) + rng.normal(0, 0.7), rng.normal(0, 1.5)])
        labels.append(y)
        sources.append("weibo")
    for _ in range(600):  # two-class source (reviews), its own style on feature 2
        y = NEG if rng.random() < 0.5 else POS
        polarity = -1.0 if y == NEG else 1.0
        rows.append([polarity + rng.normal(0, 0.7), rng.normal(0, 0.7), 3.0 + rng.normal(0, 0.2)])
        labels.append(y)
        sources.append("reviews")
    return np.array(rows, np.float32), np.array(labels, np.int64), sources


def _neutral_probability(label_space: bool) -> float:
    x, y, sources = _corpus()
    mask = source_label_space(sources, y.tolist(), 3) if label_space else None
    cfg = HeadConfig(hidden=0, epochs=60, lr=0.05, dropout=0.0)
    head = fit_head("s", LABELS, x, y, source_weights(sources, y.tolist()), cfg, None, mask)
    # a neutral text (no polarity, the neutral cue) written in the review style
    probe = np.array([[0.0, 1.0, 3.0]], np.float32)
    return float(head.proba(probe)[0, NEU])


def test_a_two_class_source_does_not_teach_its_style_is_never_neutral() -> None:
    with_space = _neutral_probability(label_space=True)
    without = _neutral_probability(label_space=False)
    assert with_space > 0.5
    assert without < with_space - 0.2  # the shortcut the full softmax learns from the review source


def test_the_two_class_source_still_separates_its_own_classes() -> None:
    x, y, sources = _corpus(seed=1)
    mask = source_label_space(sources, y.tolist(), 3)
    cfg = HeadConfig(epochs=60, lr=0.05)
    head = fit_head("s", LABELS, x, y, source_weights(sources, y.tolist()), cfg, None, mask)
    reviews = np.array([s == "reviews" for s in sources])
    probs = head.proba(x[reviews])
    polar = np.where(probs[:, POS] > probs[:, NEG], POS, NEG)
    assert (polar == y[reviews]).mean() > 0.85  # polarity noise 0.7 around +-1: about 0.92 is the best possible


def test_label_smoothing_is_refused_with_a_label_space() -> None:
    x, y, sources = _corpus()
    mask = source_label_space(sources, y.tolist(), 3)
    with pytest.raises(ValueError, match="label smoothing"):
        fit_head("s", LABELS, x, y, source_weights(sources, y.tolist()), HeadConfig(label_smoothing=0.1), None, mask)
