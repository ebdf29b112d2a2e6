"""Served models: frozen specs, loaded once at start-up, listed by ``/v1/models``."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.encoder import OnnxEncoder, Precision
from models.heads import CONFIG_FILE, HEAD_FILE
from models.pipeline import Analyzer
from models.sentiment import SentimentModel
from models.spec import ModelSpec
from models.stages import STAGE_LOADERS, StageEnv

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_HEADS_DIR = PACKAGE_DIR / "heads"


class ArtifactMissingError(FileNotFoundError):
    """A model artifact is absent; run ``tousu build`` (or ``tousu train <task>``)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def head_spec(name: str, directory: Path) -> ModelSpec:
    weights = directory / HEAD_FILE
    if not weights.exists():
        raise ArtifactMissingError(f"{weights} not found: run `tousu train {name}`")
    digest = _sha256(weights)
    metrics_file = directory / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    config = json.loads((directory / CONFIG_FILE).read_text())
    return ModelSpec(name, str(config.get("kind", "head")), str(directory), digest[:12], digest, metrics)


@dataclass
class Registry:
    analyzer: Analyzer
    specs: tuple[ModelSpec, ...]

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.specs]


def load_registry(
    artifacts_dir: Path,
    heads_dir: Path = DEFAULT_HEADS_DIR,
    precision: Precision = "fp32",
    threads: int = 0,
    max_tokens: int = 256,
) -> Registry:
    encoder_dir = artifacts_dir / "e5-small"
    manifest_file = encoder_dir / "manifest.json"
    if not manifest_file.exists():
        raise ArtifactMissingError(f"{manifest_file} not found: run `tousu build` first")
    manifest = json.loads(manifest_file.read_text())
    encoder = OnnxEncoder(encoder_dir, precision=precision, threads=threads, max_tokens=max_tokens)
    model_file = f"model.{precision}.onnx"
    specs = [
        ModelSpec(
            name=f"encoder/{encoder.name}",
            kind="encoder",
            path=str(encoder_dir / model_file),
            version=encoder.version,
            sha256=manifest["files"][model_file]["sha256"],
            metrics=manifest.get("metrics", {}),
        )
    ]
    sentiment_spec = head_spec("sentiment", heads_dir / "sentiment")
    specs.append(sentiment_spec)
    sentiment = SentimentModel.load(heads_dir / "sentiment", sentiment_spec.version)
    env = StageEnv(heads_dir=heads_dir, artifacts_dir=artifacts_dir, encoder=encoder)
    stages = []
    for loader in STAGE_LOADERS:
        loaded = loader(env)
        if loaded is not None:
            stage, spec = loaded
            stages.append(stage)
            specs.append(spec)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate model names: {names}")
    return Registry(Analyzer(encoder, sentiment, tuple(stages)), tuple(specs))
