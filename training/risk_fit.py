"""Ordinal (proportional-odds) logistic regression with non-negative weights, regularised to a prior.

    P(level >= yellow) = sigmoid(w.x - c_yellow),  P(level = red) = sigmoid(w.x - c_red),  c_yellow < c_red

Why this model: the levels are ordered, so one risk axis ``w.x`` with two cut points is the natural
(and most auditable) model, and it maps one-to-one onto the served ``score = sigmoid(bias + w.x)``
with two thresholds (see ``models/risk/scorer.py``). Why ``w >= 0``: every signal is defined so that
more of it means more risk; a free fit on a few hundred messages can learn a negative weight from
collinearity (e.g. urgency words being common in trivial-but-angry yellow messages next to
escalation words), which would let a word *lower* the risk of a threat, and would not generalise
to other domains. Why a prior: a signal that barely fires in the labelled data (money while the
entity stage is not served, hidden dissatisfaction before its stage lands) keeps its documented
prior weight instead of collapsing to 0, and the others move from the prior only as far as the
data supports. Classes are weighted to balance the levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize

from metrics.scores import classification_scores

MAX_WEIGHT = 20.0


def _sig(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


@dataclass(frozen=True)
class OrdinalFit:
    """Weights and the model's cut points (probabilities), plus the decision thresholds on ``w.x``.

    The decision thresholds start at the cut points (predict the level whose cumulative probability
    passes 1/2) and are then tuned for macro-F1 on the fit part (:func:`tune_thresholds`): with a
    weak signal the proportional-odds cut points can sit where no message is called blue.
    """

    weights: np.ndarray
    cut_yellow: float
    cut_red: float
    lam: float
    loss: float
    decide_yellow: float
    decide_red: float

    @property
    def bias(self) -> float:
        """Served bias: score 0.5 sits in the middle of the yellow band."""
        return -(self.decide_yellow + self.decide_red) / 2

    @property
    def thresholds(self) -> tuple[float, float]:
        """Served score thresholds (yellow, red) equivalent to the decision thresholds."""
        half = (self.decide_red - self.decide_yellow) / 2
        return float(_sig(np.array(-half))), float(_sig(np.array(half)))

    def proba(self, X: np.ndarray) -> np.ndarray:
        z = X @ self.weights
        ge1, ge2 = _sig(z - self.cut_yellow), _sig(z - self.cut_red)
        return np.stack([1 - ge1, ge1 - ge2, ge2], axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = X @ self.weights
        out: np.ndarray = (z >= self.decide_yellow).astype(int) + (z >= self.decide_red).astype(int)
        return out


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    f1 = []
    for c in range(3):
        tp = float(((pred == c) & (y == c)).sum())
        denom = float((pred == c).sum() + (y == c).sum())
        f1.append(2 * tp / denom if denom else 0.0)
    return sum(f1) / 3


def tune_thresholds(fit: OrdinalFit, X: np.ndarray, y: np.ndarray, grid: int = 120) -> OrdinalFit:
    """Decision thresholds on ``w.x`` maximising macro-F1 on (X, y); ties keep the widest yellow band."""
    z = X @ fit.weights
    qs = np.unique(np.quantile(z, np.linspace(0, 1, grid)))
    candidates = np.concatenate([[qs[0] - 1.0], (qs[:-1] + qs[1:]) / 2, [qs[-1] + 1.0]])
    best = (-1.0, 0.0, fit.decide_yellow, fit.decide_red)
    for i, t1 in enumerate(candidates):
        ge1 = z >= t1
        for t2 in candidates[i + 1 :]:
            score = _macro_f1(y, ge1.astype(int) + (z >= t2).astype(int))
            if (score, t2 - t1) > best[:2]:
                best = (score, t2 - t1, float(t1), float(t2))
    return replace(fit, decide_yellow=best[2], decide_red=best[3])


def balanced_weights(y: np.ndarray, n_classes: int = 3) -> np.ndarray:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    per_class = len(y) / (n_classes * np.maximum(counts, 1.0))
    out: np.ndarray = per_class[y]
    return out


def _loss_and_grad(
    theta: np.ndarray, X: np.ndarray, y: np.ndarray, sw: np.ndarray, prior: np.ndarray, lam: float
) -> tuple[float, np.ndarray]:
    k = X.shape[1]
    w, c1, g = theta[:k], theta[k], theta[k + 1]
    gap = np.exp(g)
    c2 = c1 + gap
    z = X @ w
    s1, s2 = _sig(z - c1), _sig(z - c2)
    eps = 1e-12
    p = np.where(y == 0, 1 - s1, np.where(y == 1, s1 - s2, s2))
    p = np.maximum(p, eps)
    d1, d2 = s1 * (1 - s1), s2 * (1 - s2)  # derivatives of s1, s2 w.r.t. z
    # d log p / dz, d log p / dc1, d log p / dc2 per sample
    dz = np.where(y == 0, -d1, np.where(y == 1, d1 - d2, d2)) / p
    dc1 = np.where(y == 0, d1, np.where(y == 1, -d1, 0.0)) / p
    dc2 = np.where(y == 0, 0.0, np.where(y == 1, d2, -d2)) / p
    total = sw.sum()
    loss = -(sw * np.log(p)).sum() / total + lam * float(((w - prior) ** 2).sum())
    grad = np.empty_like(theta)
    grad[:k] = -(X.T @ (sw * dz)) / total + 2 * lam * (w - prior)
    gc1 = -(sw * dc1).sum() / total
    gc2 = -(sw * dc2).sum() / total
    grad[k] = gc1 + gc2
    grad[k + 1] = gc2 * gap
    return float(loss), grad


def fit_ordinal(
    X: np.ndarray,
    y: np.ndarray,
    prior: np.ndarray,
    lam: float,
    fixed: Sequence[int] = (),
    zero: Sequence[int] = (),
) -> OrdinalFit:
    """Fit on (X, y); ``fixed`` columns keep their prior weight, ``zero`` columns are dropped (weight 0)."""
    k = X.shape[1]
    sw = balanced_weights(y)
    bounds = [(0.0, MAX_WEIGHT)] * k + [(-30.0, 30.0), (-6.0, 4.0)]
    for j in fixed:
        bounds[j] = (float(prior[j]), float(prior[j]))
    for j in zero:
        bounds[j] = (0.0, 0.0)
    start = np.concatenate([np.clip(prior, 0, MAX_WEIGHT), [1.0, np.log(3.0)]])
    for j in zero:
        start[j] = 0.0
    result = minimize(_loss_and_grad, start, args=(X, y, sw, prior, lam), jac=True, method="L-BFGS-B", bounds=bounds)
    theta = result.x
    c1, c2 = float(theta[k]), float(theta[k] + np.exp(theta[k + 1]))
    return OrdinalFit(theta[:k].copy(), c1, c2, lam, float(result.fun), c1, c2)


def stratified_folds(y: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=int)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        fold_of[idx] = np.arange(len(idx)) % n_folds
    return [np.flatnonzero(fold_of == f) for f in range(n_folds)]


def weighted_nll(fit: OrdinalFit, X: np.ndarray, y: np.ndarray) -> float:
    p = np.maximum(fit.proba(X)[np.arange(len(y)), y], 1e-12)
    sw = balanced_weights(y)
    return float(-(sw * np.log(p)).sum() / sw.sum())


def cross_validate(
    X: np.ndarray, y: np.ndarray, prior: np.ndarray, lams: Sequence[float], n_folds: int, seed: int
) -> dict[float, dict[str, float]]:
    """Per penalty: mean balanced NLL and macro-F1 (tuned thresholds) on the left-out folds."""
    folds = stratified_folds(y, n_folds, seed)
    out = {}
    for lam in lams:
        nll, f1 = [], []
        for test in folds:
            train = np.setdiff1d(np.arange(len(y)), test)
            fit = fit_ordinal(X[train], y[train], prior, lam)
            nll.append(weighted_nll(fit, X[test], y[test]))
            fit = tune_thresholds(fit, X[train], y[train])
            f1.append(classification_scores(y[test], fit.predict(X[test]), 3)["macro_f1"])
        out[lam] = {"nll": round(float(np.mean(nll)), 4), "macro_f1": round(float(np.mean(f1)), 4)}
    return out


def cv_threshold_rules(
    X: np.ndarray, y: np.ndarray, prior: np.ndarray, lam: float, n_folds: int, seed: int
) -> dict[str, float]:
    """CV macro-F1 of the two decision rules: the model's cut points vs thresholds tuned for macro-F1."""
    scores: dict[str, list[float]] = {"cut points (cumulative P >= 1/2)": [], "tuned for macro-F1": []}
    for test in stratified_folds(y, n_folds, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        fit = fit_ordinal(X[train], y[train], prior, lam)
        for name, rule in zip(scores, (fit, tune_thresholds(fit, X[train], y[train])), strict=True):
            scores[name].append(classification_scores(y[test], rule.predict(X[test]), 3)["macro_f1"])
    return {name: round(float(np.mean(v)), 4) for name, v in scores.items()}


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n: int = 3) -> list[list[int]]:
    m = np.zeros((n, n), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        m[t, p] += 1
    return m.tolist()  # type: ignore[no-any-return]


def level_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, object]:
    """Accuracy, macro-F1, red recall/precision, under-triage (red predicted blue) and the confusion matrix."""
    red_true, red_pred = y_true == 2, y_pred == 2
    return {
        "n": len(y_true),
        **classification_scores(y_true, y_pred, 3),
        "red_recall": round(float((red_pred & red_true).sum() / max(1, red_true.sum())), 4),
        "red_precision": round(float((red_pred & red_true).sum() / max(1, red_pred.sum())), 4),
        "red_as_blue": int((red_true & (y_pred == 0)).sum()),
        "blue_as_red": int(((y_true == 0) & red_pred).sum()),
        "confusion": confusion(y_true.tolist(), y_pred.tolist()),
    }
