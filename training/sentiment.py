"""Recipe: ``tousu train sentiment``: a calibrated 3-class head on frozen e5 features.

1. Build the corpus and splits (``training/sentiment_data.py``), fixed seed.
2. Encode every text once with the served ONNX encoder (disk cache by text hash).
3. Fit candidate heads on train (logistic regression at several C, a 1-hidden-layer MLP),
   pick the best dev macro-F1.
4. Fit a temperature on dev (calibration), report dev/test/out-of-domain metrics and ECE.
5. Write ``head.safetensors``, ``config.json``, ``metrics.json`` and the model card.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.metrics import classification_scores, expected_calibration_error, fit_temperature
from models.heads import DenseHead, softmax
from models.registry import DEFAULT_HEADS_DIR
from training.features import PooledFeatureCache, load_encoder
from training.sentiment_data import LABELS, build

logger = logging.getLogger(__name__)
SEED = 13


def _xy(cache: PooledFeatureCache, examples: list[Any], dim: int) -> tuple[np.ndarray, np.ndarray]:
    X = cache.get([e.text for e in examples])[:, :dim]
    y = np.array([LABELS.index(e.label) for e in examples])
    return X, y


def fit_head(X: np.ndarray, y: np.ndarray, Xd: np.ndarray, yd: np.ndarray) -> tuple[DenseHead, dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    mean = X.mean(axis=0).astype(np.float32)
    scale = (X.std(axis=0) + 1e-6).astype(np.float32)
    Xs, Xds = (X - mean) / scale, (Xd - mean) / scale
    candidates: list[tuple[float, str, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]] = []
    for c in (0.01, 0.03, 0.1, 0.3):
        lr = LogisticRegression(C=c, max_iter=3000, random_state=SEED).fit(Xs, y)
        f1 = classification_scores(yd, lr.predict(Xds), len(LABELS))["macro_f1"]
        logger.info("logreg C=%s dev macro-F1 %.4f", c, f1)
        candidates.append((f1, f"logreg(C={c})", (lr.coef_.T,), (lr.intercept_,)))
    for alpha in (1e-3, 1e-2):
        mlp = MLPClassifier(
            hidden_layer_sizes=(256,), alpha=alpha, early_stopping=True, max_iter=200, random_state=SEED
        ).fit(Xs, y)
        f1 = classification_scores(yd, mlp.predict(Xds), len(LABELS))["macro_f1"]
        logger.info("mlp alpha=%s dev macro-F1 %.4f", alpha, f1)
        candidates.append((f1, f"mlp(256, alpha={alpha})", tuple(mlp.coefs_), tuple(mlp.intercepts_)))
    f1, name, weights, biases = max(candidates, key=lambda c: c[0])
    head = DenseHead(
        labels=LABELS,
        mean=mean,
        scale=scale,
        weights=tuple(w.astype(np.float32) for w in weights),
        biases=tuple(b.astype(np.float32) for b in biases),
        temperature=1.0,
        config={},
    )
    temperature = fit_temperature(head.logits(Xd), yd)
    head = DenseHead(head.labels, head.mean, head.scale, head.weights, head.biases, temperature, {})
    return head, {
        "selected": name,
        "dev_macro_f1_uncalibrated_selection": f1,
        "temperature": temperature,
        "candidates": {c[1]: c[0] for c in candidates},
    }


def evaluate_head(head: DenseHead, X: np.ndarray, y: np.ndarray, examples: list[Any]) -> dict[str, Any]:
    probs = head.predict_proba(X)
    pred = probs.argmax(axis=1)
    out: dict[str, Any] = {
        "n": len(y),
        **classification_scores(y, pred, len(LABELS)),
        "ece": round(expected_calibration_error(probs, y), 4),
    }
    for lang in ("zh", "en"):
        idx = [i for i, e in enumerate(examples) if e.lang == lang]
        if idx:
            out[lang] = {"n": len(idx), **classification_scores(y[idx], pred[idx], len(LABELS))}
    return out


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu train sentiment")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--output", default=str(DEFAULT_HEADS_DIR / "sentiment"))
    ap.add_argument("--features", choices=("mean8", "mean8+last"), default="mean8")
    args = ap.parse_args(argv)
    started = time.perf_counter()

    # 1. data
    splits = build(SEED)
    # 2. features from the served encoder
    encoder = load_encoder(Path(args.artifacts), "fp32")
    cache = PooledFeatureCache(encoder)
    dim = encoder.hidden_size if args.features == "mean8" else 2 * encoder.hidden_size
    t_feat = time.perf_counter()
    data = {name: _xy(cache, ex, dim) for name, ex in splits.items()}
    feature_s = time.perf_counter() - t_feat
    # 3-4. fit and calibrate
    t_fit = time.perf_counter()
    head, selection = fit_head(*data["train"], *data["dev"])
    fit_s = time.perf_counter() - t_fit
    # 5. evaluate and write
    metrics = {name: evaluate_head(head, *data[name], splits[name]) for name in ("dev", "test", "test_ood")}
    uncal = softmax(head.logits(data["test"][0]))
    metrics["test"]["ece_before_temperature"] = round(expected_calibration_error(uncal, data["test"][1]), 4)
    total_s = time.perf_counter() - started
    out = Path(args.output)
    config = {
        "kind": "sentiment",
        "features": args.features,
        "feature_dim": dim,
        "encoder": f"{encoder.name}/{encoder.version}",
        "selection": selection,
        "train_size": len(splits["train"]),
        "seed": SEED,
    }
    head.save(out, config)
    timings = {"feature_extraction_s": round(feature_s, 1), "fit_s": round(fit_s, 1), "total_s": round(total_s, 1)}
    (out / "metrics.json").write_text(json.dumps({**metrics, "timings": timings}, indent=2, sort_keys=True))
    logger.info("sentiment head written to %s: %s", out, json.dumps(metrics["test"]))
    print(json.dumps({"test": metrics["test"], "test_ood": metrics["test_ood"], "timings": timings}, indent=2))
    return 0
