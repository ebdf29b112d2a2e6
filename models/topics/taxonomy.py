"""Root-cause categories: a data file the user edits, a light head over the e5 embeddings, and few-shot examples.

Each category's descriptions and seed examples (Chinese and English) are embedded one by one with the
served encoder (``query:`` prefix, like messages). Three kinds of labelled embeddings make up the *bank*
the head is fitted on at start-up, in NumPy, in well under a second:

1. the taxonomy's own texts (weight ``scoring.seed_weight``: they define the categories);
2. the shipped bank (``taxonomy_bank.npz``, named by the taxonomy's ``bank`` key, looked up next to the file
   and then among the shipped resources): embeddings of the dev
   and bank parts of the project's labelled complaints (``tests/data/categories_labelled.jsonl``), written by
   ``tousu evaluate categories --write-bank``; used only when it was computed with the serving encoder,
   rows of categories the taxonomy lacks are dropped;
3. the user's own labelled examples (``TOUSU_CATEGORY_EXAMPLES``: JSONL ``{"text", "category"}``, 10-20 per
   category is enough), weight ``scoring.example_weight``: the few-shot path, no encoder retraining.

The head standardises the embedding, applies a multinomial logistic regression (L2-penalised, fitted by
full-batch gradient descent from zero: deterministic) and reads the softmax as the probability of each
category. A message whose best non-fallback category is less probable than ``scoring.other_threshold`` goes
to the fallback (``other``): a complaint the taxonomy has no cause for. Without a ``scoring`` block the
mapper scores cosine similarities to one mean prototype per category (the first release's zero-shot
behaviour, still what :class:`CategoryMapper` does when built from prototypes alone).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.encoder import Encoder, FloatArray
from models.heads import rowwise_matmul, softmax
from models.schema import Category
from models.settings import DEFAULT_TAXONOMY
from models.text import normalize

logger = logging.getLogger(__name__)

#: Softmax temperature over cosine similarities when no fitted value is given (see MODEL_CARD).
DEFAULT_TEMPERATURE = 0.02
#: Most lines read from a user's example file (the head is fitted at start-up).
MAX_EXAMPLES = 5000


class TaxonomyError(ValueError):
    """The taxonomy (or an example file) is malformed; the message names the file and the offending entry."""


@dataclass(frozen=True)
class CategoryDef:
    name: str
    label: dict[str, str]
    texts: tuple[str, ...]  # description(s) first, then examples


@dataclass(frozen=True)
class Scoring:
    """How the head is fitted and when a message falls back to ``other`` (the taxonomy's ``scoring`` block)."""

    regularization: float = 0.03  # L2 penalty on the standardised weights
    seed_weight: float = 3.0  # weight of each taxonomy text in the fit
    example_weight: float = 3.0  # weight of each user example in the fit
    other_threshold: float = 0.0  # best non-fallback probability below this -> fallback
    iterations: int = 600
    learning_rate: float = 0.1


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[CategoryDef, ...]
    digest: str  # sha256 of the file: part of the stage version, so cached answers follow edits
    path: Path
    fallback: str | None = None  # the category for messages no other category fits
    scoring: Scoring | None = None  # None: cosine to mean prototypes, no head
    bank: Path | None = None  # shipped labelled embeddings (resolved next to the file)

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
        fallback = data.get("fallback")
        if fallback is not None and fallback not in names:
            raise TaxonomyError(f"{path}: fallback {fallback!r} is not one of the categories")
        bank = data.get("bank")
        return cls(
            tuple(categories),
            hashlib.sha256(raw).hexdigest(),
            path,
            fallback,
            _scoring(path, data.get("scoring")),
            _bank_path(path, bank) if isinstance(bank, str) and bank else None,
        )


def _bank_path(taxonomy: Path, bank: str) -> Path:
    """``bank`` next to the taxonomy file; a relative name missing there is the shipped bank of that name,
    so an edited copy of the taxonomy elsewhere keeps the labelled rows of the categories it still has."""
    path = taxonomy.parent / bank
    shipped = DEFAULT_TAXONOMY.parent / bank
    return shipped if not path.is_file() and not Path(bank).is_absolute() and shipped.is_file() else path


def _texts(value: Any) -> list[str]:
    """A string, a list of strings, or a {language: string | list} mapping."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
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


def _scoring(path: Path, value: Any) -> Scoring | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TaxonomyError(f"{path}: 'scoring' must be an object")
    known = Scoring.__dataclass_fields__
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise TaxonomyError(f"{path}: unknown 'scoring' keys {unknown}")
    try:
        scoring = Scoring(**{k: type(getattr(Scoring, k))(v) for k, v in value.items()})
    except (TypeError, ValueError) as exc:
        raise TaxonomyError(f"{path}: bad 'scoring' value ({exc})") from exc
    if scoring.regularization <= 0 or scoring.iterations < 1 or scoring.learning_rate <= 0:
        raise TaxonomyError(f"{path}: 'scoring' needs a positive regularization, iterations and learning_rate")
    if not 0.0 <= scoring.other_threshold < 1.0 or scoring.seed_weight <= 0 or scoring.example_weight <= 0:
        raise TaxonomyError(f"{path}: 'scoring' needs 0 <= other_threshold < 1 and positive weights")
    return scoring


@dataclass(frozen=True)
class Example:
    """A user's labelled message (few-shot)."""

    text: str
    category: str


def load_examples(path: Path, taxonomy: Taxonomy) -> list[Example]:
    """Read a JSONL file of ``{"text", "category"}`` (``label`` is accepted for ``category``).

    Refuses, with the line number, unknown categories, missing text and bad JSON: a typo would
    otherwise quietly teach the head nothing.
    """
    names = set(taxonomy.names)
    examples: list[Example] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaxonomyError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise TaxonomyError(f"{path}:{number}: expected an object with 'text' and 'category'")
        text = record.get("text")
        category = record.get("category", record.get("label"))
        if not isinstance(text, str) or not text.strip():
            raise TaxonomyError(f"{path}:{number}: needs a non-empty 'text'")
        if category not in names:
            raise TaxonomyError(f"{path}:{number}: unknown category {category!r} (taxonomy: {', '.join(names)})")
        examples.append(Example(text.strip(), str(category)))
        if len(examples) > MAX_EXAMPLES:
            raise TaxonomyError(f"{path}: more than {MAX_EXAMPLES} examples")
    return examples


def l2_rows(matrix: FloatArray) -> FloatArray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


@dataclass(frozen=True)
class Bank:
    """Labelled embeddings the head is fitted on: category index per row and a weight per row."""

    embeddings: FloatArray
    labels: np.ndarray  # int, index into the taxonomy's categories
    weights: np.ndarray  # float
    counts: dict[str, int] = field(default_factory=dict)  # rows per kind (seeds, bank, examples)

    def __post_init__(self) -> None:
        if not (len(self.embeddings) == len(self.labels) == len(self.weights)):
            raise ValueError("bank rows, labels and weights differ in length")


class LogisticHead:
    """Standardise -> linear -> softmax, fitted on a :class:`Bank` (deterministic, NumPy only)."""

    def __init__(self, mean: FloatArray, scale: FloatArray, weight: FloatArray, bias: FloatArray) -> None:
        self.mean, self.scale, self.weight, self.bias = mean, scale, weight, bias

    @classmethod
    def fit(cls, bank: Bank, n_classes: int, scoring: Scoring) -> LogisticHead:
        x = l2_rows(np.asarray(bank.embeddings, dtype=np.float32)).astype(np.float64)
        w = np.asarray(bank.weights, dtype=np.float64)
        mean = (w[:, None] * x).sum(axis=0) / w.sum()
        scale = np.sqrt((w[:, None] * (x - mean) ** 2).sum(axis=0) / w.sum()) + 1e-6
        z = (x - mean) / scale
        targets = np.eye(n_classes)[bank.labels]
        share = w / w.sum()
        weight = np.zeros((x.shape[1], n_classes))
        bias = np.zeros(n_classes)
        for _ in range(scoring.iterations):
            logits = z @ weight + bias
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            grad = (p - targets) * share[:, None]
            weight -= scoring.learning_rate * (z.T @ grad + scoring.regularization * weight)
            bias -= scoring.learning_rate * grad.sum(axis=0)
        f32 = np.float32
        return cls(mean.astype(f32), scale.astype(f32), weight.astype(f32), bias.astype(f32))

    def probabilities(self, embeddings: FloatArray) -> FloatArray:
        z = (l2_rows(np.asarray(embeddings, dtype=np.float32)) - self.mean) / self.scale
        return softmax((rowwise_matmul(z, self.weight) + self.bias).astype(np.float32))


class CategoryMapper:
    """Scores embeddings against the taxonomy.

    With a head (the taxonomy has a ``scoring`` block): ``score`` is the head's probability of the
    chosen category; a message whose best non-fallback probability is below ``other_threshold`` is
    given the fallback with ``score = 1 - that probability``. Without a head: ``softmax(cos(x,
    prototype_c) / T)`` of the best category, ``T`` fitted by the topic recipe.
    """

    def __init__(
        self,
        taxonomy: Taxonomy,
        prototypes: FloatArray,
        temperature: float = DEFAULT_TEMPERATURE,
        head: LogisticHead | None = None,
        bank_counts: dict[str, int] | None = None,
    ) -> None:
        if prototypes.shape[0] != len(taxonomy.categories):
            raise ValueError("one prototype per category expected")
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.taxonomy = taxonomy
        self.prototypes = l2_rows(prototypes)
        self.temperature = float(temperature)
        self.head = head
        self.bank_counts = dict(bank_counts or {})
        self.examples_digest = ""

    @classmethod
    def build(
        cls,
        taxonomy: Taxonomy,
        encoder: Encoder,
        temperature: float = DEFAULT_TEMPERATURE,
        examples: Path | Sequence[Example] | None = None,
        use_bank: bool = True,
    ) -> CategoryMapper:
        """Embed the taxonomy (and the examples: a JSONL path or a list) and fit the head if the taxonomy has one."""
        digest = ""
        if isinstance(examples, Path):
            digest = hashlib.sha256(examples.read_bytes()).hexdigest()
            examples = load_examples(examples, taxonomy)
        examples = list(examples or ())
        if examples and not digest:
            payload = json.dumps([[e.text, e.category] for e in examples], ensure_ascii=False)
            digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        seeds = text_embeddings(taxonomy, encoder)
        prototypes = np.stack([l2_rows(rows.mean(axis=0, keepdims=True))[0] for rows in seeds])
        if taxonomy.scoring is None:
            if examples:
                raise TaxonomyError(f"{taxonomy.path}: few-shot examples need a 'scoring' block")
            return cls(taxonomy, prototypes, temperature)
        bank = assemble_bank(taxonomy, seeds, encoder, examples, use_bank)
        head = LogisticHead.fit(bank, len(taxonomy.categories), taxonomy.scoring)
        mapper = cls(taxonomy, prototypes, temperature, head, bank.counts)
        mapper.examples_digest = digest
        return mapper

    @property
    def version(self) -> str:
        """Taxonomy file (and example file) digests: answers change with either, so cache keys must too."""
        examples = f"+examples-{self.examples_digest[:8]}" if self.examples_digest else ""
        return f"taxonomy-{self.taxonomy.digest[:8]}{examples}"

    def similarities(self, embeddings: FloatArray) -> FloatArray:
        """(N, C) cosine similarities of (any-norm) embeddings to the mean prototypes."""
        return np.asarray(l2_rows(np.asarray(embeddings, dtype=np.float32)) @ self.prototypes.T, dtype=np.float32)

    def probabilities(self, embeddings: FloatArray) -> FloatArray:
        if self.head is not None:
            return self.head.probabilities(embeddings)
        return softmax(self.similarities(embeddings) / self.temperature)

    def decide(self, probabilities: FloatArray) -> list[tuple[int, float]]:
        """(category index, score) per row: the argmax, or the fallback below the threshold."""
        threshold = self.taxonomy.scoring.other_threshold if self.taxonomy.scoring and self.head else 0.0
        return decide(probabilities, self.taxonomy, threshold)

    def categorize(self, embeddings: FloatArray) -> list[Category]:
        names = self.taxonomy.names
        return [
            Category(name=names[i], score=round(score, 4)) for i, score in self.decide(self.probabilities(embeddings))
        ]


def decide(probabilities: FloatArray, taxonomy: Taxonomy, threshold: float) -> list[tuple[int, float]]:
    """(category index, score) per row: the most probable category, or the fallback when the most probable
    non-fallback category has a probability below ``threshold`` (score: one minus that probability)."""
    fallback = taxonomy.names.index(taxonomy.fallback) if taxonomy.fallback is not None else None
    out: list[tuple[int, float]] = []
    for row in probabilities:
        best = int(row.argmax())
        if fallback is not None and threshold > 0 and best != fallback and row[best] < threshold:
            out.append((fallback, 1.0 - float(row[best])))
        else:
            out.append((best, float(row[best])))
    return out


def assemble_bank(
    taxonomy: Taxonomy,
    seeds: Sequence[FloatArray],
    encoder: Encoder,
    examples: Sequence[Example] = (),
    use_bank: bool = True,
) -> Bank:
    """The rows the head is fitted on: taxonomy texts, the shipped bank (if it fits), the user's examples."""
    scoring = taxonomy.scoring or Scoring()
    rows = [np.asarray(s, dtype=np.float32) for s in seeds]
    labels = [np.full(len(s), i) for i, s in enumerate(seeds)]
    weights = [np.full(len(s), scoring.seed_weight) for s in seeds]
    counts = {"taxonomy": int(sum(len(s) for s in seeds)), "bank": 0, "examples": 0}
    if use_bank and taxonomy.bank is not None:
        shipped = read_bank(taxonomy.bank, taxonomy, encoder)
        if shipped is not None:
            rows.append(shipped[0])
            labels.append(shipped[1])
            weights.append(np.ones(len(shipped[1])))
            counts["bank"] = len(shipped[1])
    if examples:
        rows.append(embed_texts(encoder, [e.text for e in examples]))
        labels.append(np.asarray([taxonomy.names.index(e.category) for e in examples]))
        weights.append(np.full(len(examples), scoring.example_weight))
        counts["examples"] = len(examples)
    return Bank(np.vstack(rows), np.concatenate(labels).astype(int), np.concatenate(weights), counts)


def read_bank(path: Path, taxonomy: Taxonomy, encoder: Encoder) -> tuple[FloatArray, np.ndarray] | None:
    """The shipped bank's embeddings and category indices, or None (with a warning) when it does not apply."""
    if not path.is_file():
        logger.warning("category bank %s not found: the head is fitted on the taxonomy texts only", path)
        return None
    with np.load(path, allow_pickle=False) as data:
        version = str(data["encoder"])
        if version != f"{encoder.name}-{encoder.version}":
            serving = f"{encoder.name}-{encoder.version}"
            logger.warning("category bank %s was computed with %s, serving %s: not used", path, version, serving)
            return None
        embeddings = np.asarray(data["embeddings"], dtype=np.float32)
        names = [str(n) for n in data["labels"]]
    keep = [i for i, n in enumerate(names) if n in taxonomy.names]
    if len(keep) < len(names):
        dropped = len(names) - len(keep)
        logger.warning("category bank %s: %d rows of categories the taxonomy lacks dropped", path, dropped)
    return embeddings[keep], np.asarray([taxonomy.names.index(names[i]) for i in keep], dtype=int)


def write_bank(path: Path, encoder: Encoder, embeddings: FloatArray, labels: Sequence[str], about: str) -> None:
    """Store labelled embeddings (float16) for :func:`read_bank`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        np.savez_compressed(
            handle,
            embeddings=np.asarray(embeddings, dtype=np.float16),
            labels=np.asarray(list(labels)),
            encoder=np.asarray(f"{encoder.name}-{encoder.version}"),
            about=np.asarray(about),
        )


def embed_texts(encoder: Encoder, texts: Sequence[str], batch: int = 32) -> FloatArray:
    """Served embeddings of raw texts (normalised as messages are)."""
    out: list[FloatArray] = []
    for i in range(0, len(texts), batch):
        outputs = encoder.forward(encoder.preprocess([normalize(t).text for t in texts[i : i + batch]]))
        out.extend(o.embedding for o in outputs)
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


# Embeddings of each category's texts per (encoder version, taxonomy digest): a few hundred encoder
# passes at start-up, shared by every stage and test that loads the same taxonomy with the same encoder.
_TEXTS: OrderedDict[tuple[str, str, str], tuple[FloatArray, ...]] = OrderedDict()
_LOCK = threading.Lock()
_MAX_CACHED = 16


def text_embeddings(taxonomy: Taxonomy, encoder: Encoder) -> tuple[FloatArray, ...]:
    """One (n_texts, H) array per category."""
    key = (encoder.name, encoder.version, taxonomy.digest)
    with _LOCK:
        cached = _TEXTS.get(key)
    if cached is not None:
        return cached
    flat = embed_texts(encoder, [t for c in taxonomy.categories for t in c.texts])
    bounds = np.cumsum([0] + [len(c.texts) for c in taxonomy.categories])
    result = tuple(flat[a:b] for a, b in itertools.pairwise(bounds))
    with _LOCK:
        _TEXTS[key] = result
        while len(_TEXTS) > _MAX_CACHED:
            _TEXTS.popitem(last=False)
    return result


def prototypes_for(taxonomy: Taxonomy, encoder: Encoder) -> FloatArray:
    """One L2-normalised mean embedding per category (the head-less zero-shot prototypes)."""
    return np.stack([l2_rows(rows.mean(axis=0, keepdims=True))[0] for rows in text_embeddings(taxonomy, encoder)])
