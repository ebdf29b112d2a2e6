"""Recipe: ``tousu train topics``: a BERTopic model on complaint texts, served in NumPy.

    tousu train topics [--input CORPUS] [--output DIR] [--previous DIR] [--seed N]

1. Read the corpus: ``--input`` JSONL ``{"id", "text", "timestamp"?}`` or CSV (``text`` column),
   or, without it, the default complaint corpus from ``../shared/data`` (``training/topics/data.py``).
2. Embed every message with the served encoder (int8 ONNX, e5 ``query:`` embedding), cached on
   disk by text hash (``training/features.py``), so refits only encode new messages.
3. Fit BERTopic on the precomputed embeddings: UMAP (low-memory, fixed ``random_state``, which
   makes it single-threaded and deterministic) -> HDBSCAN -> c-TF-IDF over jieba words with
   shipped stop words. Same corpus + seed => same topics.
4. Describe each topic: label (top 3 c-TF-IDF words), keywords (top 10), size, three
   representative messages (closest to the topic embedding), PII-masked by ``models.pii.redact``.
5. Stable ids: with ``--previous``, align the topics to the previous model by topic-embedding
   similarity (``models/topics/align.py``); otherwise number them 0..K-1 by size.
6. Calibrate: the topic probability temperature (softmax over topic cosines vs the fitted
   clusters) and the category score temperature (zero-shot categories vs BANKING77 intents
   mapped to categories, train split).
7. Save with ``BERTopic.save(serialization="safetensors", save_ctfidf=True)`` plus
   ``manifest.json``, ``MODEL_CARD.md`` and ``assignments.jsonl`` (one line per input record,
   in input order: ``{"id", "topic": {"id", "label"}, "category": {"name", "score"}}``, for ``--input``).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.settings import DEFAULT_HEADS_DIR, ModelSettings
from models.topics.align import DEFAULT_THRESHOLD, Alignment, assign_fresh
from models.topics.model import MANIFEST_FILE, OUTLIER_ID, OUTLIER_LABEL, TopicModel
from models.topics.taxonomy import DEFAULT_TEMPERATURE, CategoryMapper, Taxonomy, l2_rows
from training.topics.data import CorpusError, Record, clip, default_corpus, read_corpus

logger = logging.getLogger(__name__)
SEED = 13
DEFAULT_OUTPUT = DEFAULT_HEADS_DIR / "topics"
BANKING77_MAP = Path(__file__).resolve().parents[1] / "resources" / "topics_banking77_categories.json"


@dataclass(frozen=True)
class FitParams:
    """What decides the clustering; recorded in the manifest and the model card."""

    reducer: str = "umap"  # "umap" (low_memory) or "pca"
    n_neighbors: int = 15
    n_components: int = 5
    min_cluster_size: int = 0  # 0 = from the corpus size, see resolved()
    min_samples: int = 10
    max_features: int = 20_000  # bounds the c-TF-IDF vocabulary (and the saved files)
    min_df: int = 0  # messages a keyword must appear in; 0 = 2..5 by corpus size
    top_n_words: int = 10

    def resolved(self, n_docs: int) -> FitParams:
        """A theme worth a manager's attention has roughly sqrt(N)/2 messages: about 50 in 10k,
        160 in 100k (bounded to 10..200), which keeps the topic count in the tens."""
        size = self.min_cluster_size or int(min(200, max(10, round(n_docs**0.5 / 2))))
        min_df = self.min_df or max(2, min(5, n_docs // 1000))
        return FitParams(**{**asdict(self), "min_cluster_size": size, "min_df": min_df})


def vocabulary(texts: list[str], params: FitParams) -> dict[str, int]:
    """Keyword candidates: jieba words in at least ``min_df`` messages, the ``max_features`` most frequent.

    Counting messages (not topics) keeps one-off tokens ("ssss", typos, names) out of the labels;
    c-TF-IDF's idf would otherwise rank such rare tokens above the real theme words.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    from training.topics.text import JiebaTokenizer

    counter = CountVectorizer(
        tokenizer=JiebaTokenizer(),
        token_pattern=None,
        lowercase=False,
        min_df=params.resolved(len(texts)).min_df,
        max_features=params.max_features,
    ).fit(texts)
    return {word: i for i, word in enumerate(sorted(counter.vocabulary_))}


def make_bertopic(n_docs: int, params: FitParams, seed: int, vocabulary: dict[str, int] | None = None) -> Any:
    """BERTopic with this project's sub-models; embeddings are always passed in."""
    from bertopic import BERTopic
    from bertopic.vectorizers import ClassTfidfTransformer
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer

    from training.topics.text import JiebaTokenizer

    p = params.resolved(n_docs)
    reducer: Any
    if p.reducer == "pca":
        from sklearn.decomposition import PCA

        reducer = PCA(n_components=p.n_components, random_state=seed)
    else:
        from umap import UMAP

        reducer = UMAP(
            n_neighbors=p.n_neighbors,
            n_components=p.n_components,
            min_dist=0.0,
            metric="cosine",
            low_memory=True,
            random_state=seed,
        )
    cluster = HDBSCAN(
        min_cluster_size=p.min_cluster_size,
        min_samples=p.min_samples,
        metric="euclidean",
        cluster_selection_method="eom",
        prediction_data=False,
    )
    # c-TF-IDF runs the vectorizer on one concatenated document per topic, so its min_df would
    # count topics; the candidate words are chosen beforehand on the messages (see vocabulary()).
    allowed = frozenset(vocabulary) if vocabulary is not None else None
    vectorizer = CountVectorizer(tokenizer=JiebaTokenizer(allowed=allowed), token_pattern=None, lowercase=False)
    return BERTopic(
        embedding_model=None,
        umap_model=reducer,
        hdbscan_model=cluster,
        vectorizer_model=vectorizer,
        ctfidf_model=ClassTfidfTransformer(),
        top_n_words=p.top_n_words,
        language="multilingual",  # "english" would strip every non-ASCII character before c-TF-IDF
        calculate_probabilities=False,
        verbose=False,
    )


def fit_bertopic(texts: list[str], embeddings: np.ndarray, params: FitParams, seed: int) -> tuple[Any, np.ndarray]:
    """Fit and return (model, per-message BERTopic topic ids)."""
    model = make_bertopic(len(texts), params, seed, vocabulary(texts, params))
    topics, _ = model.fit_transform(texts, embeddings)
    return model, np.asarray(topics, dtype=np.int64)


def embed(texts: list[str], artifacts: Path, progress: bool = True) -> tuple[np.ndarray, Any]:
    """Served-encoder embeddings (int8), from the disk cache where possible."""
    from training.features import PooledFeatureCache, load_encoder

    encoder = load_encoder(artifacts, "int8")
    return PooledFeatureCache(encoder).embeddings(texts, batch_size=32, progress=progress), encoder


def describe_topics(model: Any, texts: list[str], embeddings: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
    """Label, keywords, size and PII-masked representative messages of every BERTopic topic."""
    from models.pii import redact

    topic_emb = np.asarray(model.topic_embeddings_, dtype=np.float32)
    outliers = 1 if OUTLIER_ID in model.topic_sizes_ else 0
    unit_docs = l2_rows(embeddings.astype(np.float32))
    out = []
    for bid in sorted(model.topic_sizes_):
        words = [w for w, _ in (model.get_topic(bid) or []) if w]
        members = np.flatnonzero(labels == bid)
        centre = topic_emb[bid + outliers]
        sims = unit_docs[members] @ (centre / (np.linalg.norm(centre) or 1.0))
        reps = [redact(texts[int(i)])[:200] for i in members[np.argsort(-sims, kind="stable")[:3]]]
        out.append(
            {
                "bertopic_id": int(bid),
                "label": OUTLIER_LABEL if bid == OUTLIER_ID else (" / ".join(words[:3]) or f"topic {bid}"),
                "keywords": [] if bid == OUTLIER_ID else words[:10],
                "size": int(model.topic_sizes_[bid]),
                "representative": reps,
            }
        )
    return out


def stable_ids(
    model: Any, previous: Path | None, threshold: float
) -> tuple[dict[int, int], Alignment, dict[str, Any] | None]:
    """BERTopic id -> stable id (outliers keep -1), the alignment and the previous manifest."""
    outliers = 1 if OUTLIER_ID in model.topic_sizes_ else 0
    topic_emb = np.asarray(model.topic_embeddings_, dtype=np.float32)[outliers:]
    bids = sorted(b for b in model.topic_sizes_ if b != OUTLIER_ID)
    if previous is None:
        alignment = assign_fresh(len(bids))
        prev_manifest = None
    else:
        prev = TopicModel.load(previous)
        prev_manifest = prev.manifest
        alignment = prev.align(topic_emb, threshold)
    mapping = {bid: alignment.ids[i] for i, bid in enumerate(bids)}
    mapping[OUTLIER_ID] = OUTLIER_ID
    return mapping, alignment, prev_manifest


def scaled_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """ML temperature of softmax(cosine / T); cosines are scaled so T lands in fit_temperature's grid."""
    from metrics.scores import fit_temperature

    return round(fit_temperature(logits / 0.01, y) * 0.01, 5)


def banking77_categories(taxonomy: Taxonomy, split: str) -> tuple[list[str], np.ndarray]:
    """BANKING77 messages whose intent maps to a category of ``taxonomy`` (mapping: training/resources)."""
    from training import data

    mapping = json.loads(BANKING77_MAP.read_text(encoding="utf-8"))["mapping"]
    intent_to = {intent: cat for cat, intents in mapping.items() for intent in intents}
    names = list(taxonomy.names)
    texts, y = [], []
    for text, intent in data.banking77(split):
        cat = intent_to.get(intent)
        if cat in names:
            texts.append(clip(text))
            y.append(names.index(cat))
    return texts, np.asarray(y, dtype=np.int64)


def category_temperature(mapper: CategoryMapper, artifacts: Path) -> tuple[float, dict[str, Any]]:
    """Fit the category score temperature on BANKING77 train (mapped); fall back when absent."""
    try:
        texts, y = banking77_categories(mapper.taxonomy, "train")
    except FileNotFoundError:
        logger.warning("BANKING77 not found: category temperature stays %s", DEFAULT_TEMPERATURE)
        return DEFAULT_TEMPERATURE, {"fitted": False}
    emb, _ = embed(texts, artifacts, progress=False)
    sims = mapper.similarities(emb)
    t = scaled_temperature(sims, y)
    acc = float((sims.argmax(axis=1) == y).mean())
    return t, {"fitted": True, "data": "banking77_en train (mapped intents)", "n": len(y), "accuracy": round(acc, 4)}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_assignments(
    path: Path, records: list[Record], rows: list[int], topics: list[tuple[int, str]], categories: list[Any]
) -> None:
    """One line per input record, in input order; unusable records keep their line with an error."""
    by_record = dict(zip(rows, zip(topics, categories, strict=True), strict=True))
    with path.open("w", encoding="utf-8") as fh:
        for i, r in enumerate(records):
            if i in by_record:
                (tid, tlabel), cat = by_record[i]
                line: dict[str, Any] = {
                    "id": r.id,
                    "topic": {"id": tid, "label": tlabel},
                    "category": {"name": cat.name, "score": cat.score},
                }
            else:
                line = {"id": r.id, "line": r.line, "topic": None, "category": None, "error_type": r.error}
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu train topics", description=__doc__.split("\n")[0])
    ap.add_argument("--input", help="JSONL {id,text,timestamp?} or CSV (text column); default: shared corpus")
    ap.add_argument("--output", default=str(DEFAULT_OUTPUT), help="model directory (default: the served one)")
    ap.add_argument("--previous", help="previous model directory: keep its topic ids for the same themes")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--taxonomy", default=str(ModelSettings().taxonomy_path), help="default: TOUSU_TAXONOMY_PATH")
    ap.add_argument("--reducer", choices=("umap", "pca"), default="umap")
    ap.add_argument("--min-cluster-size", type=int, default=0, help="0 = sqrt(N)/2, bounded to 10..200")
    ap.add_argument("--align-threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument(
        "--category-temperature", type=float, help="use this category score temperature instead of fitting it"
    )
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    out = Path(args.output)
    artifacts = Path(args.artifacts)

    # 1. corpus
    try:
        records = read_corpus(Path(args.input)) if args.input else default_corpus(args.seed)
    except CorpusError as exc:
        print(f"tousu train topics: {exc}", file=sys.stderr)
        return 2
    rows = [i for i, r in enumerate(records) if r.error is None]
    texts = [records[i].text for i in rows]
    if len(texts) < 50:
        print(f"tousu train topics: {len(texts)} usable messages; at least 50 are needed", file=sys.stderr)
        return 2
    logger.info("corpus: %d records, %d usable", len(records), len(texts))

    # 2. embeddings from the served encoder
    t0 = time.perf_counter()
    embeddings, encoder = embed(texts, artifacts, progress=not args.no_progress)
    embed_s = time.perf_counter() - t0

    # 3. fit
    params = FitParams(reducer=args.reducer, min_cluster_size=args.min_cluster_size).resolved(len(texts))
    t0 = time.perf_counter()
    model, labels = fit_bertopic(texts, embeddings, params, args.seed)
    fit_s = time.perf_counter() - t0
    logger.info(
        "fitted %d topics in %.1f s (outliers %.1f%%)", len(model.topic_sizes_), fit_s, 100 * (labels == -1).mean()
    )

    # 4-5. describe, stable ids
    described = describe_topics(model, texts, embeddings, labels)
    mapping, alignment, prev_manifest = stable_ids(
        model, Path(args.previous) if args.previous else None, args.align_threshold
    )

    # 6. calibration and categories
    taxonomy = Taxonomy.load(Path(args.taxonomy))
    mapper = CategoryMapper.build(taxonomy, encoder)
    if args.category_temperature:
        cat_t, cat_info = args.category_temperature, {"fitted": False, "given": args.category_temperature}
    else:
        cat_t, cat_info = category_temperature(mapper, artifacts)
    mapper = CategoryMapper(taxonomy, mapper.prototypes, cat_t)
    outliers = 1 if OUTLIER_ID in model.topic_sizes_ else 0
    topic_emb = np.asarray(model.topic_embeddings_, dtype=np.float32)
    sims = l2_rows(embeddings) @ l2_rows(topic_emb).T
    sample = np.random.default_rng(args.seed).permutation(len(texts))[:20_000]  # enough for one parameter
    topic_t = scaled_temperature(sims[sample], labels[sample] + outliers)
    topic_categories = mapper.categorize(topic_emb)
    for entry in described:
        entry["id"] = mapping[entry["bertopic_id"]]
        cat = topic_categories[entry["bertopic_id"] + outliers]
        entry["category"] = {"name": cat.name, "score": cat.score}

    # 7. save: BERTopic's files, then the manifest that the service reads
    out.mkdir(parents=True, exist_ok=True)
    model.save(
        str(out),
        serialization="safetensors",
        save_ctfidf=True,
        save_embedding_model=f"tousu-onnx:{encoder.name}:{encoder.version}",  # a tag, never a hub id
    )
    served_assign = sims.argmax(axis=1) - outliers
    clustered = labels != OUTLIER_ID
    agreement = float((served_assign[clustered] == labels[clustered]).mean())
    version_hint = f"{time.strftime('%Y-%m-%d')}-seed{args.seed}"
    manifest = build_manifest(
        described, alignment, prev_manifest, params, args, encoder, topic_t, cat_t, cat_info, version_hint
    )
    manifest["metrics"] = {
        "n_messages": len(texts),
        "n_topics": len([d for d in described if d["bertopic_id"] != OUTLIER_ID]),
        "outlier_share_fit": round(float((labels == OUTLIER_ID).mean()), 4),
        "outlier_share_served": round(float((served_assign == OUTLIER_ID).mean()), 4),
        "served_vs_fit_agreement": round(agreement, 4),
        "embed_s": round(embed_s, 1),
        "fit_s": round(fit_s, 1),
        "peak_rss_mb": peak_rss_mb(),
        "category_calibration": cat_info,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    # assignments.jsonl (user corpora): what the service answers for each input record
    served = TopicModel.load(out)
    if args.input:
        assigned = served.assign(embeddings)
        write_assignments(
            out / "assignments.jsonl",
            records,
            rows,
            [(a.topic.id, OUTLIER_LABEL if a.topic.id == OUTLIER_ID else a.topic.label) for a in assigned],
            mapper.categorize(embeddings),
        )
    manifest["metrics"]["total_s"] = round(time.perf_counter() - t_start, 1)
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    from training.topics.card import write_card

    write_card(out, manifest, records, rows, args.input is None)
    print(json.dumps({k: manifest["metrics"][k] for k in ("n_messages", "n_topics", "outlier_share_fit", "fit_s")}))
    print(f"topic model: {out} ({served.version})")
    return 0


def build_manifest(
    described: list[dict[str, Any]],
    alignment: Alignment,
    prev_manifest: dict[str, Any] | None,
    params: FitParams,
    args: argparse.Namespace,
    encoder: Any,
    topic_t: float,
    cat_t: float,
    cat_info: dict[str, Any],
    version_hint: str,
) -> dict[str, Any]:
    by_id = {d["id"]: d for d in described}
    vanished = list(prev_manifest.get("vanished", [])) if prev_manifest else []
    if prev_manifest:
        prev_topics = {int(t["id"]): t for t in prev_manifest["topics"]}
        for vid in alignment.vanished:
            t = prev_topics[vid]
            vanished.append(
                {"id": vid, "label": t["label"], "keywords": t["keywords"][:5], "last_seen": prev_manifest["fit"]}
            )
    return {
        "name": "topics",
        "format": 1,
        "fit": version_hint,
        "encoder": {"name": encoder.name, "version": encoder.version, "precision": "int8"},
        "seed": args.seed,
        "params": asdict(params),
        "corpus": args.input or "default (training/topics/data.py: default_corpus)",
        "probability_temperature": topic_t,
        "category_temperature": cat_t,
        "taxonomy_at_fit": str(args.taxonomy),
        "next_id": alignment.next_id,
        "topics": [by_id[i] for i in sorted(by_id)],
        "alignment": {
            "previous": prev_manifest["fit"] if prev_manifest else None,
            "threshold": alignment.threshold if prev_manifest else None,
            "matched": [{"id": pid, "similarity": sim} for _, pid, sim in alignment.matched],
            "new": list(alignment.new) if prev_manifest else [],
            "vanished": list(alignment.vanished),
        },
        "vanished": vanished,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.exit(main(sys.argv[1:]))
