"""The ``topic`` stage: topic and root-cause category from the embedding already computed.

Reads ``ctx.encoded.embedding`` (no extra encoder pass), writes ``topic`` and ``category``.
A message nearest to the outlier centroid gets ``topic.id == -1`` with the label
``"outlier"`` and no keywords (it matches no theme of the fitted corpus: a candidate new
theme); its ``category`` is still scored from its own embedding.
"""

from __future__ import annotations

import logging

import numpy as np

from models.pipeline import Context
from models.schema import Topic
from models.spec import ModelSpec
from models.stages import StageEnv
from models.topics.model import OUTLIER_ID, OUTLIER_LABEL, TopicModel
from models.topics.taxonomy import DEFAULT_TEMPERATURE, CategoryMapper, Taxonomy

logger = logging.getLogger(__name__)


class TopicStage:
    name = "topic"

    def __init__(self, model: TopicModel, categories: CategoryMapper) -> None:
        self.model = model
        self.categories = categories
        self.version = f"{model.version}+taxonomy-{categories.taxonomy.digest[:8]}"

    def run(self, batch: list[Context]) -> None:
        if not batch:
            return
        embeddings = np.stack([c.encoded.embedding for c in batch])
        assignments = self.model.assign(embeddings)
        categories = self.categories.categorize(embeddings)
        for ctx, a, category in zip(batch, assignments, categories, strict=True):
            outlier = a.topic.id == OUTLIER_ID
            ctx.fields["topic"] = Topic(
                id=a.topic.id,
                label=OUTLIER_LABEL if outlier else a.topic.label,
                keywords=[] if outlier else list(a.topic.keywords),
                probability=round(a.probability, 4),
                similarity=round(a.similarity, 4),
            )
            ctx.fields["category"] = category


def load_topic_stage(env: StageEnv) -> tuple[TopicStage, ModelSpec] | None:
    """The served topic stage, or None when no topic model has been trained."""
    settings = env.settings
    directory = settings.topic_model_dir or env.heads_dir / "topics"
    if not (directory / "manifest.json").is_file():
        logger.warning("no topic model in %s: the topic stage is off (run `tousu train topics`)", directory)
        return None
    model = TopicModel.load(directory)
    if model.dim != env.encoder.hidden_size:
        raise ValueError(f"topic model dimension {model.dim} != encoder hidden size {env.encoder.hidden_size}")
    trained_on = model.manifest.get("encoder", {}).get("version")
    if trained_on and trained_on != env.encoder.version:
        logger.warning("topic model was fitted on encoder %s, serving %s", trained_on, env.encoder.version)
    taxonomy = Taxonomy.load(settings.taxonomy_path)
    temperature = float(model.manifest.get("category_temperature", DEFAULT_TEMPERATURE))
    stage = TopicStage(model, CategoryMapper.build(taxonomy, env.encoder, temperature))
    metrics = dict(model.manifest.get("metrics", {}))
    metrics["taxonomy"] = {"path": str(taxonomy.path), "sha256": taxonomy.digest, "categories": list(taxonomy.names)}
    spec = ModelSpec("topic", "bertopic", str(directory), stage.version, model.sha256, metrics)
    return stage, spec
