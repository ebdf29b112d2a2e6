"""``python -m evaluation.sentiment_lora``: round 1's architecture against the served one, left-out sources only.

The question behind the model choice: does tuning transformer layers (a LoRA branch: e5 layers 9-10 + LoRA
rank 16 on the layer-8 states, round 1's sentiment model) generalise better to an unseen source than a
pooled head on the frozen encoder pass? Both are trained on the same same-source corpus, with the same
source- and class-balanced weights, without the left-out source, and scored on the same sample of it.

It trains one branch per left-out source (minutes each on 2 cores), so it samples ``--per-source`` texts of
every source and runs the sources named by ``--held-out``. Report: ``evaluation/reports/sentiment_lora.md``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.report import write as write_report
from metrics.scores import fit_temperature
from models.build import BRANCH_BASE_FILE
from models.heads import softmax
from training.branch import BranchConfig, predict_logits, train_branch, trunk_inputs
from training.data import Example
from training.features import PooledFeatureCache, load_encoder
from training.model_card import table
from training.pooled import source_weights
from training.sentiment import loso
from training.sentiment.data import LABELS, corpus
from training.sentiment.recipe import CANDIDATES, CHOSEN, SEED, fitter

REPORTS = Path(__file__).resolve().parent / "reports"
TRAIN_MAX_TOKENS = 128


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="python -m evaluation.sentiment_lora")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--per-source", type=int, default=2200)
    ap.add_argument("--held-out", nargs="+", default=["airline_tweets_en", "smp2020_ewect_zh"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--report", default=str(REPORTS / "sentiment_lora"))
    args = ap.parse_args(argv)

    rng = random.Random(SEED)
    sample: dict[str, list[Example]] = {
        s: rng.sample(items, min(args.per_source, len(items))) for s, items in corpus(SEED).items()
    }
    branch_encoder = load_encoder(Path(args.artifacts), "int8", max_tokens=TRAIN_MAX_TOKENS)
    t0 = time.perf_counter()
    states = {s: trunk_inputs(branch_encoder, [e.text for e in items]) for s, items in sample.items()}
    states_s = time.perf_counter() - t0
    cache = PooledFeatureCache(load_encoder(Path(args.artifacts), "int8"))
    features = {s: cache.get([e.text for e in items], progress=False) for s, items in sample.items()}
    base = Path(args.artifacts) / "e5-small" / BRANCH_BASE_FILE

    results: dict[str, Any] = {"per_source": args.per_source, "epochs": args.epochs, "held_out": {}}
    for source in args.held_out:
        others = [s for s in sorted(sample) if s != source]
        xs = [x for s in others for x in states[s]]
        y = np.array([LABELS.index(e.label) for s in others for e in sample[s]])
        sources = [s for s in others for _ in sample[s]]
        dev = loso.dev_mask(len(y), SEED)
        train, held = np.where(~dev)[0], np.where(dev)[0]
        weights = source_weights([sources[i] for i in train], y[train].tolist())
        cfg = BranchConfig(kind="sequence", labels=LABELS, n_layers=2, epochs=args.epochs, seed=SEED)

        def accuracy(logits: list[np.ndarray], truth: Sequence[int]) -> float:
            return float(np.mean(np.stack(logits).argmax(axis=1) == np.asarray(truth)))

        t0 = time.perf_counter()
        result = train_branch(
            cfg,
            base,
            ([xs[i] for i in train], y[train]),
            ([xs[i] for i in held], y[held]),
            accuracy,
            sample_weights=weights.tolist(),
        )
        train_s = time.perf_counter() - t0
        temperature = fit_temperature(np.stack(predict_logits(result.model, [xs[i] for i in held])), y[held])
        logits = np.stack(predict_logits(result.model, states[source])).astype(np.float32)
        truth = np.array([LABELS.index(e.label) for e in sample[source]])
        t0 = time.perf_counter()
        pooled = loso.run(sample, features, fitter(*CANDIDATES[CHOSEN]), SEED, [source])[source]
        results["held_out"][source] = {
            "lora_branch": loso.source_scores(softmax(logits / np.float32(temperature)), truth),
            "pooled_head": pooled,
            "lora_train_s": round(train_s, 1),
            "pooled_train_s": round(time.perf_counter() - t0, 1),
            "train_n": len(train),
        }
        print(source, results["held_out"][source], flush=True)
    results["states_s"] = round(states_s, 1)
    write_report(Path(args.report), results, _markdown(results))
    print(_markdown(results))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    metrics = ("macro_f1", "neutral_recall", "pos_neg_accuracy", "negative_f1", "ece")
    rows = [
        [source, name, *(v[name].get(m, "-") for m in metrics), v[f"{name.split('_')[0]}_train_s"]]
        for source, v in r["held_out"].items()
        for name in ("lora_branch", "pooled_head")
    ]
    return (
        "\n".join(
            [
                "# Sentiment: LoRA branch (round 1) vs pooled head (served), on sources left out of training",
                "",
                "Generated by `python -m evaluation.sentiment_lora`. Both trained on the same same-source corpus",
                f"({r['per_source']} texts sampled per source, seed 13) without the left-out source, with source- and",
                f"class-balanced weights; the branch trains {r['epochs']} epochs (128-token windows), the head is the",
                "served recipe. Temperatures from the other sources' dev share. Scored on the same sample of the",
                "left-out source.",
                "",
                table(
                    rows,
                    [
                        "left-out source",
                        "model",
                        "macro-F1",
                        "neutral recall",
                        "pos/neg acc",
                        "negative F1",
                        "ECE",
                        "train s",
                    ],
                ),
                "",
                f"Layer-8 states for the branch: {r['states_s']} s.",
            ]
        )
        + "\n"
    )


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
