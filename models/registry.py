"""Served models: frozen specs, loaded once at start-up, listed by ``/v1/models``."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

from models.encoder import OnnxEncoder
from models.pipeline import Analyzer
from models.pooled import load_pooled
from models.sentiment import SentimentModel
from models.settings import ModelSettings
from models.spec import ModelSpec
from models.stages import STAGE_LOADERS, StageEnv

logger = logging.getLogger(__name__)


class ArtifactMissingError(FileNotFoundError):
    """A model artifact is absent; run ``tousu build`` (or ``tousu train <task>``)."""


@dataclass
class Registry:
    analyzer: Analyzer
    specs: tuple[ModelSpec, ...]

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.specs]


def load_registry(settings: ModelSettings) -> Registry:
    """Load the encoder, the sentiment branch and every configured stage (start-up, never at import)."""
    artifacts_dir, heads_dir = settings.artifacts_dir, settings.heads_dir
    precision, threads = settings.encoder_precision, settings.ort_threads
    encoder_dir = artifacts_dir / "e5-small"
    manifest_file = encoder_dir / "manifest.json"
    if not manifest_file.exists():
        raise ArtifactMissingError(f"{manifest_file} not found: run `tousu build` first")
    manifest = json.loads(manifest_file.read_text())
    encoder = OnnxEncoder(
        encoder_dir,
        precision=precision,
        threads=threads,
        max_tokens=settings.max_tokens,
        streams=settings.encoder_streams,
    )
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
    sentiment_head, sentiment_spec = load_pooled("sentiment", heads_dir / "sentiment", encoder.name, encoder.version)
    sentiment = SentimentModel(sentiment_head, sentiment_spec.version)
    specs.append(replace(sentiment_spec, version=sentiment.version))
    env = StageEnv(heads_dir=heads_dir, artifacts_dir=artifacts_dir, encoder=encoder, settings=settings)
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
