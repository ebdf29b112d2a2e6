"""Shared metric helpers: accuracy, macro-F1, expected calibration error, span P/R/F1.

A neutral module: ``training/`` and ``evaluation/`` both import it, and it imports neither.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

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


Span = tuple[int, int, str]


def prf(tp: int, n_pred: int, n_gold: int, tp_gold: int | None = None) -> dict[str, float | int]:
    """Precision / recall / F1 of ``tp`` correct predictions among ``n_pred``, against ``n_gold`` gold items
    (``tp_gold``: gold items found, when that differs from ``tp`` as with overlap matching).

    The empty cases follow their definitions: with nothing to find, recall is 1.0 (nothing was
    missed) and precision is 1.0 if nothing was predicted (0.0 otherwise: every prediction is wrong).
    """
    p = tp / n_pred if n_pred else (1.0 if n_gold == 0 else 0.0)
    r = (tp if tp_gold is None else tp_gold) / n_gold if n_gold else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": n_gold, "predicted": n_pred}


def span_scores(
    pred: Sequence[set[Span]], gold: Sequence[set[Span]], types: Sequence[str], total: str = "micro"
) -> dict[str, Any]:
    """Exact-span P/R/F1 per type and over all ``types`` (key ``total``), each with ``overlap_f1``:
    the same with any same-type overlap counted as a hit. Spans are ``(start, end, type)`` per message."""

    def overlaps(a: Span, pool: set[Span]) -> bool:
        return any(a[2] == b[2] and a[0] < b[1] and b[0] < a[1] for b in pool)

    out: dict[str, Any] = {}
    for kind in (*types, total):
        wanted = set(types) if kind == total else {kind}
        ps = [{x for x in p if x[2] in wanted} for p in pred]
        gs = [{x for x in g if x[2] in wanted} for g in gold]
        tp = sum(len(p & g) for p, g in zip(ps, gs, strict=True))
        n_pred, n_gold = sum(map(len, ps)), sum(map(len, gs))
        scores = prf(tp, n_pred, n_gold)
        hits_p = sum(sum(overlaps(x, g) for x in p) for p, g in zip(ps, gs, strict=True))
        hits_r = sum(sum(overlaps(x, p) for x in g) for p, g in zip(ps, gs, strict=True))
        scores["overlap_f1"] = prf(hits_p, n_pred, n_gold, hits_r)["f1"]
        out[kind] = scores
    return out
