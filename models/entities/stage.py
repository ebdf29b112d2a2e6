"""The ``entities`` stage: typed, normalised entities and, on request, the redacted text.

Writes ``entities`` (sorted by start, no overlaps, offsets into the original text) and, with
``options.redact``, ``redacted_text``. Personal data (phones, e-mails, ID numbers, names,
addresses) is MASKED in the answer unless ``options.include_pii`` is true, so that cached
answers, job results and logs never carry raw values; answers with raw values are not cached
(``service.analysis.AnalysisService`` gives them a private key).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from models.entities.lexicon import RESOURCES
from models.entities.pipeline import EntityConfig, EntityPipelines, EntityRequest
from models.pii import mask, mask_normalized, redacted_text
from models.pipeline import Context
from models.schema import Entity
from models.spec import ModelSpec
from models.stages import StageEnv

logger = logging.getLogger(__name__)
CONFIG_FILE = "config.json"
HEAD_DIR = "token_head"


def masked(entity: Entity) -> Entity:
    """The entity with its value hidden (offsets unchanged); non-PII entities are returned as they are."""
    if not entity.pii:
        return entity
    subtype = entity.normalized.get("kind", "") if isinstance(entity.normalized, dict) else ""
    return entity.model_copy(
        update={
            "text": mask(entity.type, str(subtype), entity.text),
            "normalized": mask_normalized(entity.type, str(subtype), entity.normalized),
        }
    )


class EntityStage:
    name = "entities"

    def __init__(self, pipelines: EntityPipelines, version: str) -> None:
        self.pipelines = pipelines
        self.version = version

    def run(self, batch: list[Context]) -> None:
        if not batch:
            return
        requests = [
            EntityRequest(
                c.item.normalized,
                c.language,
                c.item.received_at,
                c.encoded if self.pipelines.needs_trunk else None,
            )
            for c in batch
        ]
        for ctx, entities in zip(batch, self.pipelines.extract(requests), strict=True):
            options = ctx.item.options
            if options.get("redact"):
                ctx.fields["redacted_text"] = redacted_text(ctx.item.normalized.original, entities)
            if not options.get("include_pii"):
                entities = [masked(e) for e in entities]
            ctx.pii = [(e.start, e.end, e.text) for e in entities if e.pii]
            ctx.fields["entities"] = entities


def _digest(directory: Path, config: EntityConfig) -> str:
    h = hashlib.sha256()
    for path in sorted(RESOURCES.glob("*.json")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    config_file = directory / CONFIG_FILE
    if config_file.is_file():
        h.update(config_file.read_bytes())
    h.update(f"{config.zh}/{config.en}".encode())
    if "branch" in (config.zh, config.en):
        h.update((directory / "branch" / "adapter.safetensors").read_bytes())
    for name in ("weights.safetensors", "config.json"):
        if (path := directory / HEAD_DIR / name).is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def load_entity_stage(env: StageEnv) -> tuple[EntityStage, ModelSpec]:
    """Build both spaCy pipelines once (a few seconds, ~200 MB) and warm them up."""
    directory = env.heads_dir / "entities"
    config = EntityConfig.load(directory / CONFIG_FILE)
    pipelines = EntityPipelines.build(
        config, directory / "branch", env.artifacts_dir / "e5-small", env.settings.ort_threads, directory / HEAD_DIR
    )
    digest = _digest(directory, config)
    head = "+head" if pipelines.head else ""
    version = f"spacy-{config.zh}-{config.en}{head}-{digest[:12]}"
    spec = ModelSpec("entities", "spacy-pipeline", str(directory), version, digest, dict(config.metrics))
    logger.info("entity pipelines: zh %s, en %s", pipelines.zh.pipe_names, pipelines.en.pipe_names)
    return EntityStage(pipelines, version), spec
