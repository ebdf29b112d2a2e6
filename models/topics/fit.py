"""A dataset's own topic model, fitted on a dump's e5 embeddings (the end of a batch job).

:func:`fit_dataset_topics` reads what the job already has for each message: its embedding (no
second encoder pass), its language and the ORG / PRODUCT spans of the entities stage.

1. **The problem, not the brand.** Each responsible party or product named in at least
   ``brand_min_count`` messages has a direction: the mean embedding of its messages minus the mean
   of all. Those directions (orthonormalised, at most ``max_brand_directions``) are projected out
   of every embedding before clustering and assignment, so "everything about <brand>" stops being
   the densest region. The names are cut out of the texts (with @-mentions, numbers and model
   codes) before c-TF-IDF, so they cannot name a topic; they become each topic's facets instead.
2. On at most ``max_fit_messages`` of them (a seeded random sample of a larger dump; the brand directions
   come from the same sample): UMAP (fixed ``random_state``: deterministic) -> HDBSCAN on the projected
   embeddings, excess of mass, or the leaves of the cluster tree when excess of mass keeps more than half of the dump in
   one cluster (it kept 85% of the airline complaint tweets in one); then BERTopic's
   ``reduce_outliers(strategy="embeddings")`` gives each outlier its nearest topic unless its
   cosine is below the ``outlier_quantile`` of the clustered messages' own cosines: those stay
   outliers (-1).
3. Topic embeddings = mean projected embedding of each topic's messages (outliers' centroid
   first, as BERTopic saves it); every message of the dump, sampled or not, is then assigned as
   ``/v1/analyze`` assigns it (``TopicModel.assign``; in blocks, so the messages x topics matrix of a
   large dump is never whole), so a job's results and a later per-message answer agree.
4. Names: per language with at least ``language_min_share`` of the messages, c-TF-IDF
   (BERTopic's ``ClassTfidfTransformer``) over jieba words and two-word phrases
   (``models/topics/words.py``), then BERTopic's maximal marginal relevance over the encoder
   embeddings of the candidates picks 2-4 diverse key phrases; a phrase inside one already chosen
   is skipped. Three representative messages (closest to the centroid), PII-masked.
5. Stable ids against the dataset's previous model (``models/topics/align.py``).
6. Saved in the served format (``TopicModel.load`` reads it): ``topic_embeddings.safetensors``
   (+ ``brand_basis``), ``topics.json``, ``manifest.json``.

BERTopic, UMAP and HDBSCAN come with the ``[topics]`` extra (BERTopic itself with ``--no-deps``: no torch)
and with ``[train]``; serving a saved model needs none of them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.encoder import FloatArray
from models.entities.parties import mentions
from models.entities.staff import facet, is_staff
from models.schema import Analysis
from models.topics.align import DEFAULT_THRESHOLD, Alignment, assign_fresh
from models.topics.model import BRAND_BASIS, EMBEDDINGS_FILE, MANIFEST_FILE, OUTLIER_ID, TOPICS_FILE, TopicModel
from models.topics.taxonomy import l2_rows
from models.topics.words import PhraseTokenizer, is_chinese, load_stop_words, mask_spans

logger = logging.getLogger(__name__)

FACET_TYPES = ("ORG", "PRODUCT")
STAFF = "STAFF"  # a staff mention: an ORG facet (a responsible party), never a brand to keep out of names
#: Called with candidate phrases, returns their (N, H) embeddings (the served encoder's ``embed``).
PhraseEmbedder = Callable[[list[str]], FloatArray]


class TopicFitError(RuntimeError):
    """The dump cannot be clustered (too few messages, BERTopic missing, no topic found)."""


@dataclass(frozen=True)
class Message:
    """What a dataset topic fit reads of one analysed message (besides its embedding)."""

    text: str
    language: str
    spans: tuple[tuple[int, int, str, str], ...] = ()  # (start, end, ORG | PRODUCT | STAFF, name)


def message_from_analysis(text: str, analysis: Analysis) -> Message:
    """The ORG / PRODUCT entities of the answer (personal data never), plus @-mentions as ORG."""
    spans = []
    for e in analysis.entities or ():
        found = facet(e.type.upper(), e.text, e.normalized, e.pii)
        if found is not None and found[0] in FACET_TYPES:
            # the staff a customer names count with the parties but are no brand: "flight attendant a****"
            # must not take "flight" out of a topic's name
            kind = STAFF if is_staff(e.type.upper(), e.normalized) else found[0]
            spans.append((e.start, e.end, kind, found[1]))
    return build_message(text, analysis.language, spans)


def build_message(text: str, language: str, entity_spans: Sequence[tuple[int, int, str, str]]) -> Message:
    """A message with its entity spans and its @-mentions (which an entity span may already cover)."""
    spans = [(start, end, "ORG", party) for start, end, party in mentions(text)]  # the party complained to
    for start, end, kind, name in entity_spans:
        if not any(start < e and s < end for s, e, _, _ in spans):
            spans.append((start, end, kind, name))
    return Message(text, language, tuple(sorted(spans)))


@dataclass(frozen=True)
class FitParams:
    n_neighbors: int = 15
    n_components: int = 5
    min_cluster_size: int = 0  # 0: sqrt(N)/2 bounded to 10..200
    min_samples: int = 10
    selection: str = "auto"  # HDBSCAN cluster selection: "eom", "leaf", or "auto" (eom; leaf when one cluster
    max_topic_share: float = 0.5  # ... holds more than this share of the clustered messages)
    remove_brands: bool = True  # project the brand / product directions out before clustering
    mask_entities: bool = True  # cut brand / product names out of the texts before c-TF-IDF
    brand_min_count: int = 5
    max_brand_directions: int = 20
    reduce_outliers: bool = True
    outlier_quantile: float = 0.02
    seed: int = 13
    candidates: int = 30  # c-TF-IDF phrases offered to MMR
    min_df: int = 2  # messages a phrase must appear in
    max_phrases: int = 4
    min_phrases: int = 2
    mmr_diversity: float = 0.5
    language_min_share: float = 0.1
    language_min_messages: int = 20
    examples: int = 3
    #: UMAP and HDBSCAN see at most this many messages (a seeded sample, ``0`` = all); every message is then
    #: assigned to its nearest topic, as ``/v1/analyze`` assigns one. UMAP's cost and memory grow with the dump
    #: (100k messages: ~9 minutes and 3.2 GB on 2 cores), so a 10^6-message night costs about the same fit. The
    #: price: a theme with fewer than ``cluster_size`` messages in the sample (under ~0.16% of the dump at 100k)
    #: forms no topic of its own and goes to its nearest one (a whole 10^6 fit would keep themes down to 0.02%).
    max_fit_messages: int = 100_000

    def cluster_size(self, n: int) -> int:
        return self.min_cluster_size or int(min(200, max(10, round(n**0.5 / 2))))


@dataclass(frozen=True)
class FittedTopic:
    id: int  # stable id
    label: str  # the name in the language of most of the topic's messages
    names: dict[str, str]  # language -> name (languages with enough messages in the topic)
    keywords: tuple[str, ...]
    size: int
    facets: dict[str, list[tuple[str, int]]]  # ORG / PRODUCT -> top names with counts
    representative: tuple[str, ...]  # PII-masked
    languages: dict[str, int]


@dataclass
class DatasetFit:
    ids: np.ndarray  # stable topic id of each message (served assignment; -1 = outlier)
    probabilities: np.ndarray
    similarities: np.ndarray
    topics: list[FittedTopic]
    alignment: Alignment
    stats: dict[str, Any] = field(default_factory=dict)
    model: TopicModel | None = None  # once saved


# -- 1. brands -----------------------------------------------------------------------------------
def brand_basis(embeddings: FloatArray, messages: Sequence[Message], params: FitParams) -> FloatArray:
    """Orthonormal rows spanning the directions of the frequent brands / products (k, H); k may be 0."""
    members: dict[str, list[int]] = {}
    for i, m in enumerate(messages):
        for name in {s[3].lower() for s in m.spans if s[3] and s[2] != STAFF}:
            members.setdefault(name, []).append(i)
    frequent = sorted(
        (n for n, rows in members.items() if len(rows) >= params.brand_min_count),
        key=lambda n: -len(members[n]),
    )[: params.max_brand_directions]
    dim = embeddings.shape[1]
    if not frequent:
        return np.zeros((0, dim), np.float32)
    mean = embeddings.mean(axis=0)
    offsets = np.stack([embeddings[members[n]].mean(axis=0) - mean for n in frequent])
    _, s, vt = np.linalg.svd(offsets, full_matrices=False)
    keep = s > 1e-6 * max(float(s[0]), 1e-12)
    return np.asarray(vt[keep], dtype=np.float32)


def project_out(embeddings: FloatArray, basis: FloatArray) -> FloatArray:
    """Embeddings without their component in ``basis`` (orthonormal rows), re-normalised (a copy)."""
    x = np.array(embeddings, dtype=np.float32)
    _unit_rows_in_place(x, basis)
    return x


def masked_texts(messages: Sequence[Message], mask: bool) -> list[str]:
    return [mask_spans(m.text, [(s[0], s[1]) for s in m.spans]) if mask else m.text for m in messages]


# -- 2. clustering ---------------------------------------------------------------------------------
def cluster(docs: list[str], x: FloatArray, params: FitParams) -> tuple[np.ndarray, dict[str, Any]]:
    """HDBSCAN topic of each message (-1 outliers) after BERTopic's outlier reduction."""
    try:
        from bertopic import BERTopic  # type: ignore[import-untyped]
        from hdbscan import HDBSCAN  # type: ignore[import-untyped]
        from sklearn.feature_extraction.text import CountVectorizer
        from umap import UMAP  # type: ignore[import-untyped]
    except ImportError as exc:  # the serving install has no BERTopic
        missing = exc.name
        raise TopicFitError(f"fitting topics needs the [topics] extra and BERTopic ({missing} missing)") from None
    from bertopic.dimensionality import BaseDimensionalityReduction  # type: ignore[import-untyped]

    reduced_x = UMAP(
        n_neighbors=params.n_neighbors,
        n_components=params.n_components,
        min_dist=0.0,
        metric="cosine",
        low_memory=True,
        random_state=params.seed,
    ).fit_transform(x)

    def hdbscan(selection: str) -> np.ndarray:
        return np.asarray(
            HDBSCAN(
                min_cluster_size=params.cluster_size(len(docs)),
                min_samples=params.min_samples,
                metric="euclidean",
                cluster_selection_method=selection,
                prediction_data=False,
            ).fit_predict(reduced_x),
            dtype=np.int64,
        )

    selection = "eom" if params.selection == "auto" else params.selection
    found = hdbscan(selection)
    if params.selection == "auto" and _largest_share(found) > params.max_topic_share:
        # Excess of mass kept most of the dump in one cluster (85% of the airline complaint tweets): not a
        # topic anyone can act on. The leaves of the same cluster tree split it into its sub-themes.
        selection = "leaf"
        found = hdbscan(selection)
    # BERTopic on the clusters found above (its own UMAP / HDBSCAN steps pass them through): its topic
    # bookkeeping is what ``reduce_outliers`` needs. Its c-TF-IDF only needs a tiny vectorizer.
    words = CountVectorizer(tokenizer=PhraseTokenizer(phrases=False), token_pattern=None, max_features=2000)
    model = BERTopic(
        embedding_model=None,
        umap_model=BaseDimensionalityReduction(),
        hdbscan_model=_Clusters(found),
        vectorizer_model=words,
        language="multilingual",
        calculate_probabilities=False,
        verbose=False,
    )
    labels = np.asarray(model.fit_transform(docs, x)[0], dtype=np.int64)
    info: dict[str, Any] = {
        "selection": selection,
        "outlier_share_hdbscan": round(float((labels == OUTLIER_ID).mean()), 4),
    }
    if params.reduce_outliers and (labels == OUTLIER_ID).any() and (labels != OUTLIER_ID).any():
        unit = l2_rows(x)
        ids = sorted(set(labels.tolist()) - {OUTLIER_ID})
        cent = l2_rows(np.stack([x[labels == t].mean(axis=0) for t in ids]))
        own = np.concatenate([unit[labels == t] @ cent[k] for k, t in enumerate(ids)])
        threshold = float(np.quantile(own, params.outlier_quantile))
        reduced = model.reduce_outliers(docs, labels.tolist(), strategy="embeddings", embeddings=x, threshold=threshold)
        labels = np.asarray(reduced, dtype=np.int64)
        info["outlier_threshold"] = round(threshold, 4)
    info["outlier_share_fit"] = round(float((labels == OUTLIER_ID).mean()), 4)
    return labels, info


class _Clusters:
    """Clusters computed beforehand, in the place of BERTopic's ``hdbscan_model``."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels_ = labels

    def fit(self, _: Any, y: Any = None) -> _Clusters:
        return self


def _largest_share(labels: np.ndarray) -> float:
    clustered = labels[labels != OUTLIER_ID]
    return float(np.bincount(clustered).max() / len(clustered)) if len(clustered) else 0.0


# -- 4. names ------------------------------------------------------------------------------------------
def _ctfidf_candidates(
    docs: list[str], labels: np.ndarray, topics: list[int], params: FitParams, tokenizer: PhraseTokenizer
) -> dict[int, list[str]]:
    """Top c-TF-IDF phrases of each topic over ``docs`` (one language's messages)."""
    from bertopic.vectorizers import ClassTfidfTransformer  # type: ignore[import-untyped]
    from sklearn.feature_extraction.text import CountVectorizer

    present = [t for t in topics if (labels == t).any()]
    if not present:
        return {}
    counter = CountVectorizer(
        tokenizer=tokenizer, token_pattern=None, lowercase=False, min_df=min(params.min_df, len(docs))
    )
    try:
        counts = counter.fit_transform(docs)
    except ValueError:  # nothing left after stop words
        return {}
    words = counter.get_feature_names_out()
    rows = [np.asarray(counts[labels == t].sum(axis=0)).ravel() for t in present]
    per_topic = np.vstack(rows)
    from scipy.sparse import csr_matrix

    scores = ClassTfidfTransformer().fit_transform(csr_matrix(per_topic)).toarray()
    out: dict[int, list[str]] = {}
    for k, t in enumerate(present):
        order = np.argsort(-scores[k], kind="stable")
        out[t] = [str(words[j]) for j in order[: params.candidates] if scores[k, j] > 0]
    return out


def _overlaps_brand(phrase: str, brand: str) -> bool:
    """Whether a candidate phrase names a brand or is part of its name: by characters for Chinese (华为 in
    华为手机), by whole words otherwise, so that a one-letter or mis-tagged "brand" (an ORG "M", "flight")
    cannot strike every phrase that contains its letters."""
    if len(brand) < 2 or brand.isdigit():
        return False
    if is_chinese(brand) or is_chinese(phrase):
        return brand in phrase or (len(phrase) >= 2 and phrase in brand)
    words, name = phrase.split(), brand.split()

    def inside(short: list[str], long: list[str]) -> bool:
        return any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))

    return inside(name, words) or (len(words) > 1 and inside(words, name)) or phrase == brand


def _pick_phrases(
    candidates: list[str], centre: FloatArray | None, embed: PhraseEmbedder | None, params: FitParams, brands: set[str]
) -> list[str]:
    """2-4 key phrases: MMR over candidate embeddings when an encoder is given, c-TF-IDF order otherwise."""
    usable = [c for c in candidates if not any(_overlaps_brand(c, b) for b in brands)]
    if not usable:
        return []
    order = usable
    if embed is not None and centre is not None and len(usable) > 1:
        from bertopic.representation._mmr import mmr  # type: ignore[import-untyped]

        vectors = embed(usable)
        order = mmr(centre.reshape(1, -1), vectors, usable, params.mmr_diversity, len(usable))
    chosen: list[str] = []
    for phrase in order:
        if any(phrase in c or c in phrase for c in chosen):
            continue  # "lost" next to "lost bag" says nothing new
        chosen.append(phrase)
        if len(chosen) >= params.max_phrases:
            break
    # Phrases first (more readable), then single words, keeping MMR's order within each.
    return sorted(chosen, key=lambda p: 0 if (" " in p or (is_chinese(p) and len(p) >= 4)) else 1)


def name_topics(
    messages: Sequence[Message],
    docs: list[str],
    unit: FloatArray,
    ids: np.ndarray,
    params: FitParams,
    embed: PhraseEmbedder | None,
) -> dict[int, dict[str, list[str]]]:
    """topic -> language -> key phrases, for every language with enough messages in the dump."""
    tokenizer = PhraseTokenizer(load_stop_words())
    langs = Counter(m.language for m in messages)
    n = len(messages)
    chosen_langs = [
        lang
        for lang, c in langs.most_common()
        if c >= params.language_min_messages and c >= params.language_min_share * n
    ] or [langs.most_common(1)[0][0]]
    topics = sorted(set(ids.tolist()) - {OUTLIER_ID})
    brands_of: dict[int, set[str]] = {t: set() for t in topics}
    for m, t in zip(messages, ids.tolist(), strict=True):
        if t in brands_of:
            brands_of[t].update(s[3].lower() for s in m.spans if s[3] and s[2] != STAFF)
    out: dict[int, dict[str, list[str]]] = {t: {} for t in topics}
    lang_of = np.asarray([m.language for m in messages])
    for lang in chosen_langs:
        rows = np.flatnonzero(lang_of == lang)
        cands = _ctfidf_candidates([docs[i] for i in rows], ids[rows], topics, params, tokenizer)
        for t, words in cands.items():
            members = rows[ids[rows] == t]
            if len(members) < max(3, params.language_min_share * (ids == t).sum()):
                continue  # too few messages of this language in the topic to name it
            centre = l2_rows(unit[members].mean(axis=0, keepdims=True))[0]
            phrases = _pick_phrases(words, centre, embed, params, brands_of[t])
            if phrases:
                out[t][lang] = phrases
    return out


# -- the fit -------------------------------------------------------------------------------------------
def fit_dataset_topics(
    messages: Sequence[Message],
    embeddings: np.ndarray,
    params: FitParams | None = None,
    previous: TopicModel | None = None,
    embed: PhraseEmbedder | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[DatasetFit, dict[str, Any], FloatArray, FloatArray]:
    """Fit; returns the fit, the manifest to save, the topic embeddings (rows in BERTopic order) and the basis."""
    from models.pii import redact

    params = params or FitParams()
    n = len(messages)
    if n != embeddings.shape[0]:
        raise ValueError(f"{n} messages for {embeddings.shape[0]} embeddings")
    if n < 2 * params.cluster_size(n):
        raise TopicFitError(f"{n} messages are too few for topics (at least {2 * params.cluster_size(n)})")
    t0 = time.perf_counter()
    rows = fit_rows(n, params)
    sampled = len(rows) < n
    sample = [messages[int(i)] for i in rows] if sampled else list(messages)
    # One float32 copy of the embeddings, normalised and projected in place block by block: a 10^6-message dump
    # holds 1.5 GB of it, not the three or four copies whole-matrix arithmetic makes.
    x = np.array(embeddings, dtype=np.float32)
    _unit_rows_in_place(x, np.zeros((0, x.shape[1]), np.float32))
    basis = (
        brand_basis(x[rows] if sampled else x, sample, params)
        if params.remove_brands
        else np.zeros((0, x.shape[1]), np.float32)
    )
    _unit_rows_in_place(x, basis)
    x_fit = x[rows] if sampled else x
    docs = masked_texts(sample, params.mask_entities)
    labels, info = cluster(docs, x_fit, params)
    fitted = sorted(set(labels.tolist()) - {OUTLIER_ID}, key=lambda t: (-int((labels == t).sum()), t))
    if not fitted:
        raise TopicFitError("HDBSCAN found no topic in this dump")
    # BERTopic order: outlier centroid first (when outliers remain), then topics by size.
    has_outliers = bool((labels == OUTLIER_ID).any())
    order = ([OUTLIER_ID] if has_outliers else []) + fitted
    centroids = np.stack([x_fit[labels == t].mean(axis=0) for t in order]).astype(np.float32)
    bert_ids = {t: (OUTLIER_ID if t == OUTLIER_ID else k) for k, t in enumerate(fitted)}
    bert_ids[OUTLIER_ID] = OUTLIER_ID
    # 5. stable ids
    topic_rows = centroids[1:] if has_outliers else centroids
    alignment = assign_fresh(len(fitted)) if previous is None else previous.align(topic_rows, threshold)
    stable = {t: alignment.ids[k] for k, t in enumerate(fitted)}
    stable[OUTLIER_ID] = OUTLIER_ID
    # 3. served assignment of every message, the sample's and the rest's alike
    unit_c = l2_rows(centroids)
    temperature = _temperature(x_fit @ unit_c.T, np.asarray([order.index(int(t)) for t in labels]))
    best, top_sims, probs = _assign(x, unit_c, temperature)
    to_stable = np.asarray([stable[t] for t in order], dtype=np.int64)
    served = to_stable[best]
    # 4. names (on the fitted sample), facets, examples (on the served assignment: what the results will say)
    names = name_topics(sample, docs, x_fit, served[rows], params, embed)
    main_lang = Counter(m.language for m in messages).most_common(1)[0][0]
    topics: list[FittedTopic] = []
    for k, t in enumerate(order):
        sid = stable[t]
        members = np.flatnonzero(served == sid)
        langs = Counter(messages[int(i)].language for i in members)
        facets: dict[str, list[tuple[str, int]]] = {}
        for kind in FACET_TYPES:
            kinds = {kind, STAFF} if kind == "ORG" else {kind}
            counts = Counter(s[3] for i in members for s in {s for s in messages[int(i)].spans if s[2] in kinds})
            if counts:
                facets[kind] = counts.most_common(5)
        ranked = members[np.argsort(-(x[members] @ unit_c[k]), kind="stable")[: params.examples]]
        examples = tuple(" ".join(redact(messages[int(i)].text).split())[:200] for i in ranked)
        per_lang = names.get(sid, {}) if t != OUTLIER_ID else {}
        # The name is in the language most of the topic's messages are in (its other names stay in ``names``).
        own_lang = langs.most_common(1)[0][0] if langs else main_lang
        label_lang = own_lang if own_lang in per_lang else main_lang
        phrases = per_lang.get(label_lang) or next(iter(per_lang.values()), [])
        label = "outlier" if t == OUTLIER_ID else (" / ".join(phrases) or f"topic {sid}")
        topics.append(
            FittedTopic(
                id=sid,
                label=label,
                names={lang: " / ".join(p) for lang, p in per_lang.items()},
                keywords=tuple(phrases),
                size=len(members),
                facets=facets,
                representative=examples,
                languages=dict(langs),
            )
        )
    fit_s = time.perf_counter() - t0
    stats = {
        "n_messages": n,
        "n_fit_messages": len(rows),
        "n_topics": len(fitted),
        **info,
        "outlier_share": round(float((served == OUTLIER_ID).mean()), 4),
        "brand_directions": int(basis.shape[0]),
        "fit_s": round(fit_s, 1),
        "main_language": main_lang,
    }
    manifest = {
        "name": "topics",
        "format": 1,
        "kind": "dataset",
        "fit": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": asdict(params),
        "probability_temperature": temperature,
        "next_id": alignment.next_id,
        "topics": [
            {
                "id": tp.id,
                "bertopic_id": bert_ids[t],
                "label": tp.label,
                "names": tp.names,
                "keywords": list(tp.keywords),
                "size": int((labels == t).sum()),
                "facets": {k: [[name, c] for name, c in v] for k, v in tp.facets.items()},
                "representative": list(tp.representative),
                "languages": tp.languages,
            }
            for t, tp in zip(order, topics, strict=True)
        ],
        "alignment": {
            "previous": previous.version if previous is not None else None,
            "threshold": threshold if previous is not None else None,
            "matched": [{"id": pid, "similarity": sim} for _, pid, sim in alignment.matched],
            "new": list(alignment.new) if previous is not None else [],
            "vanished": list(alignment.vanished),
        },
        "metrics": stats,
    }
    fit = DatasetFit(served, probs, top_sims, topics, alignment, stats)
    sizes = {bert_ids[t]: int((labels == t).sum()) for t in order}
    manifest["bertopic_topic_sizes"] = {str(k): v for k, v in sizes.items()}
    return fit, manifest, centroids, basis


def fit_rows(n: int, params: FitParams) -> np.ndarray:
    """The messages UMAP and HDBSCAN see: all of them, or a seeded sample of ``max_fit_messages`` (in dump order)."""
    cap = params.max_fit_messages
    if not cap or n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(params.seed).choice(n, size=cap, replace=False))


#: Rows of the (messages x topics) similarity matrix computed at once: a 10^6-message dump never holds all of it.
ASSIGN_BLOCK = 50_000


def _unit_rows_in_place(x: FloatArray, basis: FloatArray) -> None:
    """Every row of ``x`` without its component in ``basis``, then unit length: in place, ``ASSIGN_BLOCK`` rows at a
    time (:func:`project_out` on a copy)."""
    for lo in range(0, x.shape[0], ASSIGN_BLOCK):
        block = x[lo : lo + ASSIGN_BLOCK]
        if basis.shape[0]:
            block -= (block @ basis.T) @ basis
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        block /= np.where(norms == 0, 1.0, norms)


def _assign(x: FloatArray, unit_centroids: FloatArray, temperature: float) -> tuple[np.ndarray, FloatArray, FloatArray]:
    """Nearest topic row, its cosine and its softmax(cosine / T) probability for every row of ``x`` (unit rows)."""
    n = x.shape[0]
    best = np.empty(n, dtype=np.int64)
    top = np.empty(n, dtype=np.float32)
    probs = np.empty(n, dtype=np.float32)
    for lo in range(0, n, ASSIGN_BLOCK):
        sims = x[lo : lo + ASSIGN_BLOCK] @ unit_centroids.T
        best[lo : lo + len(sims)] = sims.argmax(axis=1)
        top[lo : lo + len(sims)] = sims.max(axis=1)
        probs[lo : lo + len(sims)] = _softmax_best(sims, temperature)
    return best, top, probs


def _temperature(sims: FloatArray, rows: np.ndarray) -> float:
    """ML temperature of softmax(cosine / T) against the fitted clusters (as ``tousu train topics``)."""
    from metrics.scores import fit_temperature

    sample = np.random.default_rng(0).permutation(len(rows))[:20_000]
    return round(fit_temperature(sims[sample] / 0.01, rows[sample].tolist()) * 0.01, 5)


def _softmax_best(sims: FloatArray, temperature: float) -> np.ndarray:
    z = sims / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return np.asarray((p / p.sum(axis=1, keepdims=True)).max(axis=1), dtype=np.float32)


def save_model(directory: Path, manifest: dict[str, Any], centroids: FloatArray, basis: FloatArray) -> TopicModel:
    """Write the served files into ``directory`` (atomically: a temporary folder renamed into place)."""
    from safetensors.numpy import save_file

    tmp = directory.parent / f".{directory.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir(parents=True)
    try:
        tensors = {"topic_embeddings": np.ascontiguousarray(centroids, dtype=np.float32)}
        if basis.shape[0]:
            tensors[BRAND_BASIS] = np.ascontiguousarray(basis, dtype=np.float32)
        save_file(tensors, str(tmp / EMBEDDINGS_FILE))
        sizes = manifest.pop("bertopic_topic_sizes")
        (tmp / TOPICS_FILE).write_text(json.dumps({"topic_sizes": sizes}), encoding="utf-8")
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        try:
            os.replace(tmp, directory)
        except OSError:  # another finaliser of the same job saved it first: theirs is the same fit
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return TopicModel.load(directory)
