"""Shared metric helpers: accuracy, macro-F1, expected calibration error."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def expected_calibration_error(probs: npt.NDArray[np.floating], y: Sequence[int], bins: int = 15) -> float:
    """ECE of the top-class confidence, equal-width bins (Guo et al., 2017)."""
    probs = np.asarray(probs)
    y_arr = np.asarray(y)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_arr
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def classification_scores(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    labels = list(range(n_classes))
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)), 4),
    }


def fit_temperature(logits: npt.NDArray[np.floating], y: Sequence[int]) -> float:
    """Temperature minimising the dev negative log-likelihood (grid + refine)."""
    y_arr = np.asarray(y)
    logits = np.asarray(logits, dtype=np.float64)

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y_arr)), y_arr].mean())

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 200))
    best = min(grid, key=nll)
    fine = np.linspace(best * 0.9, best * 1.1, 41)
    return float(min(fine, key=nll))
