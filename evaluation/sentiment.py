"""``tousu evaluate sentiment``: leave-one-source-out first, the in-source split second, baselines beside.

Systems:

- ``served``: the served recipe (pooled head on the int8 encoder pass, ``training/sentiment/recipe.py``).
  Leave-one-source-out: refitted without each source and scored on all of it (what decides the model).
  In-source: the served head itself on the 10% test share of every source.
- ``char_tfidf_lr``: character 1-3-gram TF-IDF + logistic regression, source- and class-balanced like the
  served head, refitted per left-out source the same way.
- ``snownlp``: SnowNLP's bundled naive-Bayes model (binary, Chinese; it was never trained on these sources).

Primary metrics: the mean and the worst over left-out sources of three-class macro-F1 (three-class sources)
and of positive/negative accuracy; ECE on the left-out sources.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.report import write as write_report
from models.pooled import PooledHead
from models.settings import DEFAULT_HEADS_DIR
from training.data import Example
from training.features import PooledFeatureCache, load_encoder
from training.pooled import source_weights
from training.sentiment import loso
from training.sentiment.card import LOSO_HEADER, loso_rows
from training.sentiment.data import LABELS, corpus
from training.sentiment.recipe import CANDIDATES, CHOSEN, SEED, fitter, labels_of, split

REPORTS = Path(__file__).resolve().parent / "reports"
NEG, NEU, POS = 0, 1, 2


def tfidf_loso(sources: dict[str, list[Example]], held_out: list[str]) -> dict[str, dict[str, Any]]:
    """The same leave-one-source-out protocol for a character TF-IDF + logistic regression baseline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from metrics.scores import fit_temperature

    out = {}
    for source in held_out:
        others = [s for s in sorted(sources) if s != source]
        texts = [e.text for s in others for e in sources[s]]
        y = np.array([LABELS.index(e.label) for s in others for e in sources[s]])
        src = [s for s in others for _ in sources[s]]
        dev = loso.dev_mask(len(y), SEED)
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=200_000)
        x = vec.fit_transform(texts)
        keep = np.where(~dev)[0]
        weights = source_weights([src[i] for i in keep], y[keep].tolist())
        lr = LogisticRegression(C=3.0, max_iter=2000).fit(x[keep], y[keep], sample_weight=weights)
        t = fit_temperature(lr.decision_function(x[np.where(dev)[0]]), y[dev])
        z = lr.decision_function(vec.transform([e.text for e in sources[source]])) / t
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        out[source] = loso.source_scores(
            probs.astype(np.float32), np.array([LABELS.index(e.label) for e in sources[source]])
        )
    return out


def snownlp_scores(sources: dict[str, list[Example]]) -> dict[str, dict[str, Any]]:
    """SnowNLP's P(positive) on the Chinese sources' polar texts (pos/neg accuracy only)."""
    from snownlp import SnowNLP

    out = {}
    for source, items in sorted(sources.items()):
        polar = [e for e in items if e.lang == "zh" and e.label != "neutral"]
        if not polar:
            continue
        pos = np.array([SnowNLP(e.text).sentiments for e in polar])
        y = np.array([e.label == "positive" for e in polar])
        out[source] = {"n": len(polar), "pos_neg_accuracy": round(float(((pos > 0.5) == y).mean()), 4)}
    return out


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu evaluate sentiment")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--head", default=str(DEFAULT_HEADS_DIR / "sentiment"))
    ap.add_argument("--report", default=str(REPORTS / "sentiment"))
    ap.add_argument("--skip-baselines", action="store_true", help="no TF-IDF / SnowNLP (minutes faster)")
    args = ap.parse_args(argv)

    sources = corpus(SEED)
    encoder = load_encoder(Path(args.artifacts), "int8")
    cache = PooledFeatureCache(encoder)
    features = {s: cache.get([e.text for e in items], progress=False) for s, items in sources.items()}
    head = PooledHead.load("sentiment", Path(args.head))
    held_out = sorted(sources)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    offset = float(head.config.get("neutral_offset", 0.0))
    results: dict[str, Any] = {"head": head.version, "recipe": CHOSEN, "neutral_offset": offset, "loso": {}}
    results["loso"]["served"] = loso.run(
        sources, features, fitter(*CANDIDATES[CHOSEN]), SEED, held_out, neutral_offset=offset
    )
    timings["served_loso_s"] = round(time.perf_counter() - t0, 1)
    if not args.skip_baselines:
        t0 = time.perf_counter()
        results["loso"]["char_tfidf_lr"] = tfidf_loso(sources, held_out)
        timings["tfidf_loso_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        results["snownlp"] = snownlp_scores(sources)
        timings["snownlp_s"] = round(time.perf_counter() - t0, 1)
    results["headline"] = {name: loso.headline(table) for name, table in results["loso"].items()}
    tests = {s: split(items, SEED)["test"] for s, items in sources.items()}
    results["in_source_test"] = {
        s: loso.source_scores(head.proba(features[s][tests[s]]), labels_of(items, tests[s]))
        for s, items in sorted(sources.items())
    }
    results["timings"] = timings
    write_report(Path(args.report), results, _markdown(results))
    print(_markdown(results))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    from training.model_card import table

    lines = [
        "# Sentiment: sources left out of training first",
        "",
        f"Generated by `tousu evaluate sentiment` (served head `{r['head']}`, recipe: {r['recipe']}, neutral offset "
        f"{r.get('neutral_offset', 0.0)}). Every row of",
        "the leave-one-source-out tables is a model trained WITHOUT that source and scored on all of it; the",
        "temperature comes from the other sources' dev share. Corpus and mappings: `training/sentiment/data.py`.",
        "",
        "## Headline (mean / worst over left-out sources)",
        "",
    ]
    metrics = ("macro_f1", "neutral_recall", "pos_neg_accuracy", "negative_f1", "ece")
    rows = [
        [name, *(f"{h[m]['mean']} / {h[m]['worst']} ({h[m]['worst_source']})" if m in h else "-" for m in metrics)]
        for name, h in r["headline"].items()
    ]
    lines += [table(rows, ["system", "3-class macro-F1", "neutral recall", "pos/neg acc", "negative F1", "ECE"]), ""]
    for name, t in r["loso"].items():
        lines += [f"## Leave-one-source-out: {name}", "", table(loso_rows(t), LOSO_HEADER), ""]
    if "snownlp" in r:
        lines += [
            "## SnowNLP (never trained on these sources), Chinese polar texts",
            "",
            table(
                [[s, v["n"], v["pos_neg_accuracy"]] for s, v in r["snownlp"].items()], ["source", "n", "pos/neg acc"]
            ),
            "",
        ]
    lines += [
        "## In-source test split (the served head; 10% of every source; not the headline)",
        "",
        table(loso_rows(r["in_source_test"]), ["source", *LOSO_HEADER[1:]]),
        "",
        f"Timings: {r['timings']}",
    ]
    return "\n".join(lines) + "\n"
