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
from models.topics.datasets import DatasetTopicModels
from models.topics.model import OUTLIER_ID, OUTLIER_LABEL, Assignment, TopicModel
from models.topics.taxonomy import DEFAULT_TEMPERATURE, CategoryMapper, Taxonomy

logger = logging.getLogger(__name__)


#: The option (set by the service, never by the caller) that names a dataset's topic model:
#: ``{"dataset": name, "job": id of the job that fitted it}``; part of the answer cache key.
DATASET_OPTION = "topic_model"


class TopicStage:
    name = "topic"

    def __init__(
        self, model: TopicModel, categories: CategoryMapper, datasets: DatasetTopicModels | None = None
    ) -> None:
        self.model = model
        self.categories = categories
        self.datasets = datasets  # the topic models batch jobs fitted per dataset
        self.version = f"{model.version}+{categories.version}"

    def dataset_option(self, dataset: str) -> dict[str, str] | None:
        """The option that makes a message use ``dataset``'s latest topic model; None when it has none."""
        if self.datasets is None:
            return None
        job = self.datasets.latest_job(dataset)
        return None if job is None else {"dataset": dataset, "job": job}

    def _model_for(self, ctx: Context) -> TopicModel:
        chosen = ctx.item.options.get(DATASET_OPTION)
        if self.datasets is None or not isinstance(chosen, dict):
            return self.model
        model = self.datasets.load(str(chosen.get("dataset")), str(chosen.get("job")))
        return self.model if model is None else model

    def run(self, batch: list[Context]) -> None:
        if not batch:
            return
        embeddings = np.stack([c.encoded.embedding for c in batch])
        models = [self._model_for(c) for c in batch]
        by_row: dict[int, Assignment] = {}
        for model in {id(m): m for m in models}.values():  # one assignment per model in the batch
            rows = [i for i, m in enumerate(models) if m is model]
            by_row.update(zip(rows, model.assign(embeddings[rows]), strict=True))
        assignments = [by_row[i] for i in range(len(batch))]
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
    temperature = float(model.manifest.get("category_temperature", DEFAULT_TEMPERATURE))  # head-less taxonomies
    categories = CategoryMapper.build(taxonomy, env.encoder, temperature, settings.category_examples)
    datasets = DatasetTopicModels(settings.dataset_topics_dir) if settings.dataset_topics_dir else None
    stage = TopicStage(model, categories, datasets)
    metrics = dict(model.manifest.get("metrics", {}))
    metrics["taxonomy"] = {"path": str(taxonomy.path), "sha256": taxonomy.digest, "categories": list(taxonomy.names)}
    metrics["category_head_rows"] = categories.bank_counts  # taxonomy texts, shipped bank, your examples
    spec = ModelSpec("topic", "bertopic", str(directory), stage.version, model.sha256, metrics)
    return stage, spec
