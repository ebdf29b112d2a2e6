"""``tousu evaluate sentiment``: the served sentiment branch next to baselines, on the same splits.

Systems, all scored on the held-out splits carved by ``training/sentiment_data.py`` (seed 13):

- ``e5_branch``: what the service runs (int8 encoder pass + the LoRA sentiment branch, calibrated);
- ``frozen_probe``: logistic regression on the same encoder's mean-pooled features (ablation: what the
  tuned branch adds over frozen features);
- ``char_tfidf_lr``: character 1-3-gram TF-IDF + logistic regression, trained on the same train split;
- ``snownlp``: SnowNLP's bundled naive-Bayes model (binary, Chinese only).

``test`` is in-domain (3 classes, zh + en); ``test_ood`` holds two product categories never seen in training
(zh, positive/negative only). Primary metric: macro-F1 on ``test``; on ``test_ood`` read the pos/neg accuracy.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.metrics import classification_scores, expected_calibration_error
from evaluation.report import write as write_report
from models.branch import load_branch
from models.settings import DEFAULT_HEADS_DIR
from models.text import normalize
from training.features import PooledFeatureCache, load_encoder
from training.sentiment_data import LABELS, build

REPORTS = Path(__file__).resolve().parent / "reports"
NEG, NEU, POS = 0, 1, 2
SYSTEMS = ("e5_branch", "frozen_probe", "char_tfidf_lr", "snownlp")


def _tfidf(train_texts: list[str], train_y: np.ndarray) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=200_000),
        LogisticRegression(C=3.0, max_iter=3000),
    )
    return pipe.fit(train_texts, train_y)


def _probe(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.03, max_iter=3000)).fit(x, y)


def _snownlp_positive(texts: list[str]) -> np.ndarray:
    from snownlp import SnowNLP

    return np.array([SnowNLP(t).sentiments for t in texts])


def _pos_neg_accuracy(y: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    """Accuracy on the positive/negative examples when the system only chooses between the two."""
    mask = y != NEU
    pred = np.where(pos > neg, POS, NEG)
    return {"n": int(mask.sum()), "accuracy": round(float((pred[mask] == y[mask]).mean()), 4)}


def _served_probs(encoder: Any, head: Any, texts: list[str], batch: int = 32) -> np.ndarray:
    out = []
    for i in range(0, len(texts), batch):
        outputs = encoder.forward(encoder.preprocess([normalize(t).text for t in texts[i : i + batch]]))
        out.append(head.sequence_proba(outputs))
    return np.concatenate(out)


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu evaluate sentiment")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--head", default=str(DEFAULT_HEADS_DIR / "sentiment"))
    ap.add_argument("--report", default=str(REPORTS / "sentiment"))
    args = ap.parse_args(argv)

    splits = build()
    encoder = load_encoder(Path(args.artifacts), "int8")
    head, spec = load_branch("sentiment", Path(args.head), Path(args.artifacts) / "e5-small")
    y = {k: np.array([LABELS.index(e.label) for e in v]) for k, v in splits.items()}
    texts = {k: [e.text for e in v] for k, v in splits.items()}

    t0 = time.perf_counter()
    tfidf = _tfidf(texts["train"], y["train"])
    fit_s = {"char_tfidf_lr": round(time.perf_counter() - t0, 1)}
    cache = PooledFeatureCache(encoder)
    t0 = time.perf_counter()
    probe = _probe(cache.get(texts["train"], progress=False), y["train"])
    fit_s["frozen_probe"] = round(time.perf_counter() - t0, 1)

    results: dict[str, Any] = {"head": spec.version, "fit_s": fit_s}
    for split in ("test", "test_ood"):
        probs = {
            "e5_branch": _served_probs(encoder, head, texts[split]),
            "frozen_probe": probe.predict_proba(cache.get(texts[split], progress=False)),
            "char_tfidf_lr": tfidf.predict_proba(texts[split]),
        }
        zh = np.array([e.lang == "zh" for e in splits[split]])
        snow = _snownlp_positive([t for t, z in zip(texts[split], zh, strict=True) if z])
        entry: dict[str, Any] = {"n": len(y[split]), "three_class": {}, "pos_neg_zh": {}}
        for name, p in probs.items():
            entry["three_class"][name] = {
                **classification_scores(y[split], p.argmax(axis=1), 3),
                "ece": round(expected_calibration_error(p, y[split]), 4),
            }
            entry["pos_neg_zh"][name] = _pos_neg_accuracy(y[split][zh], p[zh, POS], p[zh, NEG])
        entry["pos_neg_zh"]["snownlp"] = _pos_neg_accuracy(y[split][zh], snow, 1 - snow)
        results[split] = entry

    write_report(Path(args.report), results, _markdown(results))
    print(_markdown(results))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Sentiment: served branch vs baselines",
        "",
        f"Generated by `tousu evaluate sentiment` (head `{r['head']}`). Splits from `training/sentiment_data.py`",
        "(seed 13). `test`: in-domain held-out, 3 classes, zh + en. `test_ood`: hotel + dairy reviews never seen in",
        "training (zh, positive/negative only; 3-class scores there count a `neutral` answer as wrong). "
        "Primary metric: macro-F1 on `test`; on `test_ood` read the zh pos/neg accuracy.",
        "",
        "| split | system | 3-class accuracy | 3-class macro-F1 | ECE | zh pos/neg accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for split in ("test", "test_ood"):
        s = r[split]
        for name in SYSTEMS:
            three = s["three_class"].get(name)
            pn = s["pos_neg_zh"][name]
            cells = "n/a (binary) | n/a | n/a"
            if three:
                cells = f"{three['accuracy']} | {three['macro_f1']} | {three['ece']}"
            lines.append(f"| {split} (n={s['n']}) | {name} | {cells} | {pn['accuracy']} (n={pn['n']}) |")
    return "\n".join(lines) + "\n"
