"""Root-cause categories, zero-shot: a data file the user edits, scored by embedding similarity.

Each category's description and example phrases (Chinese and English) are embedded once
with the served encoder (``query:`` prefix, like messages). A category's prototype is the
L2-normalised mean of those embeddings; a message (or a topic centroid) is scored against
every prototype by cosine similarity and the scores are turned into probabilities with a
softmax at a fitted temperature (see :class:`CategoryMapper`). Adding a category is an
edit of the JSON file; nothing is retrained.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.encoder import Encoder, FloatArray
from models.heads import softmax
from models.schema import Category
from models.settings import DEFAULT_TAXONOMY
from models.text import normalize

#: Softmax temperature over cosine similarities when no fitted value is given (see MODEL_CARD).
DEFAULT_TEMPERATURE = 0.02


class TaxonomyError(ValueError):
    """The taxonomy file is malformed; the message names the file and the offending entry."""


@dataclass(frozen=True)
class CategoryDef:
    name: str
    label: dict[str, str]
    texts: tuple[str, ...]  # description(s) first, then examples


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[CategoryDef, ...]
    digest: str  # sha256 of the file: part of the stage version, so cached answers follow edits
    path: Path

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    @classmethod
    def load(cls, path: Path = DEFAULT_TAXONOMY) -> Taxonomy:
        raw = path.read_bytes()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TaxonomyError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
        entries = data.get("categories") if isinstance(data, dict) else None
        if not isinstance(entries, list) or len(entries) < 2:
            raise TaxonomyError(f"{path}: needs a 'categories' list with at least two entries")
        categories = [_category(path, i, e) for i, e in enumerate(entries)]
        names = [c.name for c in categories]
        if len(set(names)) != len(names):
            raise TaxonomyError(f"{path}: duplicate category names {sorted(n for n in names if names.count(n) > 1)}")
        return cls(tuple(categories), hashlib.sha256(raw).hexdigest(), path)


def _texts(value: Any) -> list[str]:
    """A string, a list of strings, or a {language: string | list} mapping."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    return []


def _category(path: Path, index: int, entry: Any) -> CategoryDef:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
        raise TaxonomyError(f"{path}: category #{index} needs a non-empty 'name'")
    name = entry["name"].strip()
    texts = [t.strip() for t in _texts(entry.get("description")) + _texts(entry.get("examples")) if t.strip()]
    if not texts:
        raise TaxonomyError(f"{path}: category {name!r} needs a 'description' or 'examples'")
    label = entry.get("label")
    labels = {str(k): str(v) for k, v in label.items()} if isinstance(label, dict) else {"en": name}
    return CategoryDef(name, labels, tuple(texts))


def l2_rows(matrix: FloatArray) -> FloatArray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


class CategoryMapper:
    """Scores embeddings against the category prototypes.

    ``score`` is ``softmax(cos(x, prototype_c) / T)`` of the best category. ``T`` is fitted by
    ``tousu train topics`` (maximum likelihood on labelled messages, see the topics MODEL_CARD)
    so that the score reads as the probability that the category is right; it is global, so
    it still applies after categories are edited.
    """

    def __init__(self, taxonomy: Taxonomy, prototypes: FloatArray, temperature: float = DEFAULT_TEMPERATURE) -> None:
        if prototypes.shape[0] != len(taxonomy.categories):
            raise ValueError("one prototype per category expected")
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.taxonomy = taxonomy
        self.prototypes = l2_rows(prototypes)
        self.temperature = float(temperature)

    @classmethod
    def build(cls, taxonomy: Taxonomy, encoder: Encoder, temperature: float = DEFAULT_TEMPERATURE) -> CategoryMapper:
        return cls(taxonomy, prototypes_for(taxonomy, encoder), temperature)

    def similarities(self, embeddings: FloatArray) -> FloatArray:
        """(N, C) cosine similarities of (any-norm) embeddings to the prototypes."""
        return np.asarray(l2_rows(np.asarray(embeddings, dtype=np.float32)) @ self.prototypes.T, dtype=np.float32)

    def probabilities(self, embeddings: FloatArray) -> FloatArray:
        return softmax(self.similarities(embeddings) / self.temperature)

    def categorize(self, embeddings: FloatArray) -> list[Category]:
        probs = self.probabilities(embeddings)
        best = probs.argmax(axis=1)
        names = self.taxonomy.names
        return [Category(name=names[int(b)], score=round(float(p[b]), 4)) for b, p in zip(best, probs, strict=True)]


# Prototypes per (encoder version, taxonomy digest): a handful of encoder passes at start-up,
# shared by every stage and test that loads the same taxonomy with the same encoder.
_PROTOTYPES: OrderedDict[tuple[str, str, str], FloatArray] = OrderedDict()
_LOCK = threading.Lock()
_MAX_CACHED = 16


def prototypes_for(taxonomy: Taxonomy, encoder: Encoder) -> FloatArray:
    key = (encoder.name, encoder.version, taxonomy.digest)
    with _LOCK:
        cached = _PROTOTYPES.get(key)
    if cached is not None:
        return cached
    rows = []
    for category in taxonomy.categories:
        texts = [normalize(t).text for t in category.texts]
        outputs = encoder.forward(encoder.preprocess(texts))
        mean = np.mean(np.stack([o.embedding for o in outputs]), axis=0)
        rows.append(mean / (float(np.linalg.norm(mean)) or 1.0))
    prototypes = np.stack(rows).astype(np.float32)
    with _LOCK:
        _PROTOTYPES[key] = prototypes
        while len(_PROTOTYPES) > _MAX_CACHED:
            _PROTOTYPES.popitem(last=False)
    return prototypes
