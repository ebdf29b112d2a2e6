"""The served topic model: BERTopic's safetensors files plus the project's manifest, in NumPy.

``BERTopic.save(dir, serialization="safetensors")`` writes the topic embeddings (the mean
e5 embedding of each topic's training messages, the outlier topic -1 first when HDBSCAN
left outliers) and ``topics.json``. A model loaded from those files has no UMAP or HDBSCAN,
so ``BERTopic.transform(docs, embeddings)`` assigns each message to the topic embedding of
highest cosine similarity (``argmax - _outliers``) and returns that cosine as its
"probability". :meth:`TopicModel.assign` does exactly that (a test checks it against
BERTopic), without importing BERTopic, and adds a calibrated probability.

The manifest (``manifest.json``, written by ``tousu train topics``) gives every BERTopic
topic its stable id (kept across refits, see ``models/topics/align.py``), a readable label
and keywords, and records the ids of themes that vanished in later refits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.encoder import FloatArray
from models.heads import rowwise_matmul, softmax
from models.topics.align import DEFAULT_THRESHOLD, Alignment, align_topics
from models.topics.taxonomy import l2_rows

MANIFEST_FILE = "manifest.json"
EMBEDDINGS_FILE = "topic_embeddings.safetensors"  # bertopic._save_utils.HF_SAFE_WEIGHTS_NAME
TOPICS_FILE = "topics.json"  # bertopic._save_utils.TOPICS_NAME
#: Optional tensor next to the topic embeddings: orthonormal brand / product directions that a dataset
#: model (``models/topics/fit.py``) projects out of every message embedding before comparing.
BRAND_BASIS = "brand_basis"
OUTLIER_ID = -1
OUTLIER_LABEL = "outlier"


class TopicModelError(ValueError):
    """The topic model directory is incomplete or inconsistent."""


@dataclass(frozen=True)
class TopicInfo:
    id: int  # stable id, what the API returns
    bertopic_id: int  # id inside this fit (BERTopic's, sorted by size)
    label: str
    keywords: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class Assignment:
    topic: TopicInfo
    similarity: float  # cosine to the topic embedding: BERTopic.transform's "probability"
    probability: float  # softmax(cosines / T) of the assigned topic, T fitted on the training corpus


class TopicModel:
    def __init__(
        self,
        embeddings: FloatArray,
        topics: tuple[TopicInfo, ...],
        temperature: float,
        version: str,
        sha256: str,
        manifest: dict[str, Any],
        brand_basis: FloatArray | None = None,
    ) -> None:
        if embeddings.ndim != 2 or embeddings.shape[0] != len(topics):
            raise TopicModelError(f"{embeddings.shape[0]} topic embeddings for {len(topics)} topics")
        if temperature <= 0:
            raise TopicModelError("probability temperature must be positive")
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self._unit = l2_rows(self.embeddings)
        self.brand_basis = None if brand_basis is None or not brand_basis.shape[0] else brand_basis.astype(np.float32)
        self.topics = topics  # row order of the embeddings
        self.temperature = float(temperature)
        self.version = version
        self.sha256 = sha256
        self.manifest = manifest
        self.by_id = {t.id: t for t in topics}

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @classmethod
    def load(cls, directory: Path) -> TopicModel:
        from safetensors.numpy import load_file

        for name in (MANIFEST_FILE, EMBEDDINGS_FILE, TOPICS_FILE):
            if not (directory / name).is_file():
                raise TopicModelError(f"{directory / name} not found: run `tousu train topics`")
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
        bertopic_topics = json.loads((directory / TOPICS_FILE).read_text(encoding="utf-8"))
        raw = (directory / EMBEDDINGS_FILE).read_bytes()
        tensors = load_file(str(directory / EMBEDDINGS_FILE))
        embeddings = tensors["topic_embeddings"]
        sizes = {int(k): int(v) for k, v in bertopic_topics["topic_sizes"].items()}
        outliers = 1 if OUTLIER_ID in sizes else 0  # BERTopic's ``_outliers``
        entries = {int(t["bertopic_id"]): t for t in manifest["topics"]}
        topics = []
        for row in range(embeddings.shape[0]):
            bid = row - outliers
            entry = entries.get(bid)
            if entry is None:
                raise TopicModelError(f"{directory / MANIFEST_FILE}: no entry for BERTopic topic {bid}")
            topics.append(
                TopicInfo(
                    id=int(entry["id"]),
                    bertopic_id=bid,
                    label=str(entry["label"]),
                    keywords=tuple(str(k) for k in entry["keywords"]),
                    size=int(sizes.get(bid, entry.get("size", 0))),
                )
            )
        ids = [t.id for t in topics]
        if len(set(ids)) != len(ids):
            raise TopicModelError(f"{directory / MANIFEST_FILE}: duplicate stable topic ids")
        digest = hashlib.sha256(raw + (directory / MANIFEST_FILE).read_bytes()).hexdigest()
        return cls(
            embeddings,
            tuple(topics),
            float(manifest["probability_temperature"]),
            f"topics-{digest[:12]}",
            digest,
            manifest,
            tensors.get(BRAND_BASIS),
        )

    def align(self, embeddings: FloatArray, threshold: float = DEFAULT_THRESHOLD) -> Alignment:
        """Stable ids for a refit's topic embeddings (outliers excluded): this model's themes keep theirs."""
        keep = [i for i, t in enumerate(self.topics) if t.id != OUTLIER_ID]
        return align_topics(
            embeddings,
            [self.topics[i].id for i in keep],
            self.embeddings[keep],
            int(self.manifest.get("next_id", 0)),
            threshold,
        )

    def similarities(self, embeddings: FloatArray) -> FloatArray:
        """(N, K) cosine similarities, as ``sklearn.metrics.pairwise.cosine_similarity``; a dataset model
        first removes the brand / product directions it was fitted without."""
        x = np.asarray(embeddings, dtype=np.float32)
        if self.brand_basis is not None:
            unit = l2_rows(x)
            x = np.asarray(
                unit - rowwise_matmul(rowwise_matmul(unit, self.brand_basis.T), self.brand_basis), dtype=np.float32
            )
        return rowwise_matmul(l2_rows(x), self._unit.T)  # row by row: the same alone and in any batch

    def assign(self, embeddings: FloatArray) -> list[Assignment]:
        sims = self.similarities(embeddings)
        probs = softmax(sims / self.temperature)
        best = sims.argmax(axis=1)
        return [
            Assignment(self.topics[int(b)], float(s[b]), float(p[b])) for b, s, p in zip(best, sims, probs, strict=True)
        ]
