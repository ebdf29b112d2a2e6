"""Leave-one-source-out: for each source, a head trained without it, scored on all of it.

This is the number decisions are made on (recipe, features, weights, calibration): the service meets
customer text from sources it never saw, and a result that holds only in-source is not a result.
Three-class sources report macro-F1 and neutral recall; two-class (review) sources report
positive/negative accuracy (P(positive) vs P(negative)) and how often a polar text is called neutral.
Calibration (ECE) is measured on the left-out source with the temperature fitted on the other
sources' dev share, as in production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from metrics.scores import expected_calibration_error, fit_temperature
from models.heads import FloatArray, softmax
from models.pooled import PooledHead
from training.data import Example
from training.sentiment.data import LABELS

NEG, NEU, POS = (LABELS.index(x) for x in LABELS)
#: fit(train features, train labels, train sources) -> an uncalibrated head
Fit = Callable[[FloatArray, npt.NDArray[np.int64], list[str]], PooledHead]


def source_scores(probs: FloatArray, y: npt.NDArray[np.int64]) -> dict[str, Any]:
    """Scores of one source's predictions (three-class or polar-only, by what the source labels)."""
    from sklearn.metrics import f1_score, recall_score

    pred = probs.argmax(axis=1)
    present = sorted(set(y.tolist()))
    out: dict[str, Any] = {
        "n": len(y),
        "classes": len(present),
        "accuracy": round(float((pred == y).mean()), 4),
        "ece": round(expected_calibration_error(probs, y), 4),
    }
    if NEU in present:
        out["macro_f1"] = round(float(f1_score(y, pred, labels=present, average="macro", zero_division=0)), 4)
        out["neutral_recall"] = round(float(recall_score(y == NEU, pred == NEU, zero_division=0)), 4)
    polar = y != NEU
    if polar.any():
        binary = np.where(probs[:, POS] > probs[:, NEG], POS, NEG)
        out["pos_neg_accuracy"] = round(float((binary[polar] == y[polar]).mean()), 4)
        out["polar_called_neutral"] = round(float((pred[polar] == NEU).mean()), 4)
    if (y == NEG).any() and (y != NEG).any():
        # "complaint or not": negative vs the rest, the routing question for English customer tweets.
        out["negative_f1"] = round(float(f1_score(y == NEG, pred == NEG, zero_division=0)), 4)
    return out


def dev_mask(n: int, seed: int, share: float = 0.1) -> npt.NDArray[np.bool_]:
    rng = np.random.default_rng(seed)
    return rng.random(n) < share


@dataclass(frozen=True)
class Fold:
    """One left-out source: its labels and the temperature-scaled logits of the head trained without it."""

    logits: FloatArray  # already divided by the temperature fitted on the other sources' dev share
    y: npt.NDArray[np.int64]
    temperature: float


def folds(
    corpus: dict[str, list[Example]],
    features: dict[str, FloatArray],
    fit: Fit,
    seed: int = 13,
    held_out: list[str] | None = None,
) -> dict[str, Fold]:
    """``{left-out source: Fold}`` for each source in ``held_out`` (default: every source)."""
    out: dict[str, Fold] = {}
    for source in held_out or sorted(corpus):
        others = [s for s in sorted(corpus) if s != source]
        x = np.concatenate([features[s] for s in others])
        y = np.array([LABELS.index(e.label) for s in others for e in corpus[s]], dtype=np.int64)
        sources = [s for s in others for _ in corpus[s]]
        dev = dev_mask(len(y), seed)
        head = fit(x[~dev], y[~dev], [s for s, d in zip(sources, dev, strict=True) if not d])
        temperature = fit_temperature(head.logits(x[dev]), y[dev])
        y_out = np.array([LABELS.index(e.label) for e in corpus[source]], dtype=np.int64)
        logits = head.logits(features[source]) / np.float32(temperature)
        out[source] = Fold(logits.astype(np.float32), y_out, temperature)
    return out


def prior(neutral_offset: float) -> FloatArray:
    """Per-class logit offsets added after the temperature: ``neutral_offset`` on neutral, 0 on the polar classes."""
    offsets = np.zeros(len(LABELS), np.float32)
    offsets[NEU] = neutral_offset
    return offsets


def score(table: dict[str, Fold], neutral_offset: float = 0.0) -> dict[str, dict[str, Any]]:
    """Scores of every fold with the neutral prior offset applied."""
    return {
        source: {
            **source_scores(softmax(fold.logits + prior(neutral_offset)), fold.y),
            "temperature": round(fold.temperature, 3),
        }
        for source, fold in table.items()
    }


def run(
    corpus: dict[str, list[Example]],
    features: dict[str, FloatArray],
    fit: Fit,
    seed: int = 13,
    held_out: list[str] | None = None,
    neutral_offset: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """``{left-out source: scores}`` for each source in ``held_out`` (default: every source)."""
    return score(folds(corpus, features, fit, seed, held_out), neutral_offset)


def choose_offset(tables: dict[float, dict[str, dict[str, Any]]], tolerance: float = 0.01) -> float:
    """The neutral offset with the best worst-source three-class macro-F1, among those that keep both the mean
    three-class macro-F1 and the mean negative F1 ("complaint or not") within ``tolerance`` of what no offset
    (0.0, which ``tables`` must hold) gives.

    Training weighs every class of a source alike, which assumes a flat prior; an unseen source's
    neutral/polar boundary is where the head fails. An offset shifts that prior, and what it gives one kind of
    source it takes from the other (neutral-heavy questions against negative-heavy complaint tweets): it is
    worth serving only where it helps the worst source without costing either mean.
    """
    heads = {offset: headline(table) for offset, table in tables.items()}
    floor = {m: heads[0.0][m]["mean"] - tolerance for m in ("macro_f1", "negative_f1")}
    eligible = [o for o, h in heads.items() if all(h[m]["mean"] >= floor[m] for m in floor)]
    return max(eligible, key=lambda o: (heads[o]["macro_f1"]["worst"], heads[o]["macro_f1"]["mean"], -abs(o)))


def headline(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean and worst over the left-out sources, per metric (three-class metrics over three-class sources)."""
    out: dict[str, Any] = {}
    for metric in ("macro_f1", "neutral_recall", "pos_neg_accuracy", "negative_f1", "ece"):
        values = {s: r[metric] for s, r in results.items() if metric in r}
        if not values:
            continue
        worst = max(values, key=values.__getitem__) if metric == "ece" else min(values, key=values.__getitem__)
        out[metric] = {
            "mean": round(float(np.mean(list(values.values()))), 4),
            "worst": values[worst],
            "worst_source": worst,
        }
    return out
