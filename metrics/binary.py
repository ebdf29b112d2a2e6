"""Binary metrics of hidden dissatisfaction, shared by the training recipe and ``tousu evaluate hidden``.

Precision, recall and F1 at the served decision (``score >= threshold`` or a baseline's own rule),
PR-AUC (average precision: threshold-free, the primary metric, robust to the class mix), and the
calibration of the score as a probability of "hidden" (ECE over the two classes, Brier score).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from metrics.scores import expected_calibration_error


def binary_report(
    p: npt.NDArray[np.floating],
    y: npt.NDArray[np.floating],
    threshold: float | None,
    pred: npt.NDArray[np.bool_] | None = None,
    brief: bool = False,
) -> dict[str, Any]:
    """Metrics of scores ``p`` for binary truth ``y``; decision ``p >= threshold`` unless ``pred`` is given."""
    from sklearn.metrics import average_precision_score

    p = np.asarray(p, dtype=np.float64)
    truth = np.asarray(y).astype(bool)
    decided = np.asarray(pred, dtype=bool) if pred is not None else p >= (0.5 if threshold is None else threshold)
    tp = int((decided & truth).sum())
    fp = int((decided & ~truth).sum())
    fn = int((~decided & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    out: dict[str, Any] = {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "pr_auc": round(float(average_precision_score(truth, p)), 4) if truth.any() and not truth.all() else None,
    }
    if brief:
        return out
    probs = np.clip(np.stack([1 - p, p], axis=1), 0.0, 1.0)
    out.update(
        {
            "n": len(truth),
            "positives": int(truth.sum()),
            "flagged": int(decided.sum()),
            "ece": round(expected_calibration_error(probs, truth.astype(int)), 4),
            "brier": round(float(np.mean((p - truth) ** 2)), 4),
        }
    )
    return out


def by_group(
    p: npt.NDArray[np.floating], y: npt.NDArray[np.floating], threshold: float, groups: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``binary_report`` per group (source, language)."""
    index: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        index[g].append(i)
    p = np.asarray(p)
    y = np.asarray(y)
    return {g: binary_report(p[idx], y[idx], threshold) for g, idx in sorted(index.items())}
