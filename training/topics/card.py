"""MODEL_CARD.md of a topic model, from its manifest (written by ``tousu train topics``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from training import model_card
from training.topics.data import Record

DEFAULT_DATA = (
    "Default corpus (`training/topics/data.py: default_corpus`): negative reviews and opinions stand in for "
    "complaints; texts clipped to 120 characters. Licences: see `../shared/data/README.md` (BANKING77: CC BY 4.0; "
    "the others state no licence and are shared for research)."
)
REPORT = Path(__file__).resolve().parents[2] / "evaluation" / "reports" / "topics.json"


def _agreement_rows() -> list[list[Any]]:
    """NMI / ARI of the last ``tousu evaluate topics`` run, if there is one."""
    if not REPORT.is_file():
        return []
    report = json.loads(REPORT.read_text(encoding="utf-8"))
    rows = []
    for name, systems in report.get("clustering", {}).items():
        for system, m in systems.items():
            rows.append([name, system, m["n_topics"], m["outlier_share"], m["nmi"], m["ari"]])
    return rows


def write_card(out: Path, manifest: dict[str, Any], records: list[Record], rows: list[int], default: bool) -> None:
    m = manifest["metrics"]
    p = manifest["params"]
    sources = Counter(records[i].source or "input" for i in rows)
    topics = [t for t in manifest["topics"] if t["id"] != -1]
    topic_rows = [
        [t["id"], t["label"], t["size"], f"{t['category']['name']} ({t['category']['score']:.2f})"]
        for t in sorted(topics, key=lambda t: -t["size"])[:40]
    ]
    agreement = _agreement_rows()
    biggest = max(topics, key=lambda t: t["size"])
    align = manifest["alignment"]
    cal = m["category_calibration"]
    agreement_table = (
        model_card.table(agreement, ["labelled set", "system", "topics", "outlier share", "NMI", "ARI"])
        if agreement
        else "Run `tousu evaluate topics`; see `evaluation/reports/topics.md`."
    )
    card = f"""
# Topic model (BERTopic over the served e5 embeddings)

Topics of complaint messages with stable ids, plus a zero-shot root-cause category. Fitted by
`tousu train topics` (recipe `training/topics/recipe.py`, seed {manifest["seed"]}) on {model_card.machine()}:
encoding {m["embed_s"]} s (0 when every text was in the on-disk cache), fitting {m["fit_s"]} s,
{m["total_s"]} s in total, peak memory {m["peak_rss_mb"]} MB (RSS of the whole recipe, including the
on-disk feature cache it loads and the torch that BERTopic imports).
The CPU was shared with other jobs while this ran, so times are pessimistic.

- Encoder: `{manifest["encoder"]["name"]}` `{manifest["encoder"]["version"]}` (int8 ONNX, the served one);
  message embedding = `EncoderOutput.embedding` (e5 `query:` prefix, L2-normalised mean pooling).
- Files: BERTopic's own `save(serialization="safetensors", save_ctfidf=True)` output
  (`topic_embeddings.safetensors`, `topics.json`, `config.json`, `ctfidf.safetensors`,
  `ctfidf_config.json`) and the project's `manifest.json` (stable ids, labels, keywords,
  representative messages PII-masked with `models.pii.redact`, calibration, alignment history).
  `config.json`'s `embedding_model` is a tag of the encoder, not a hub id: nothing downloads.
- Serving (`models/topics/`): no BERTopic, no UMAP/HDBSCAN. The topic is the argmax of the cosine
  similarity between the message embedding and the topic embeddings (outlier centroid included),
  exactly what `BERTopic.load(dir).transform(docs, embeddings)` returns (a test checks it).
  `similarity` is that cosine; `probability` is `softmax(cosines / {manifest["probability_temperature"]})`
  of the chosen topic, the temperature fitted by maximum likelihood against the fitted clusters.
- Outliers: HDBSCAN left {m["outlier_share_fit"]:.1%} of the training messages unclustered; the outlier
  centroid is kept as topic -1, so a message nearest to it gets `id -1`, label `outlier`, no keywords
  ({m["outlier_share_served"]:.1%} of the training messages under the served assignment, which puts
  {m["served_vs_fit_agreement"]:.1%} of the clustered messages back in their own cluster). Its `category`
  is still given.
- Categories: `models/resources/topics/taxonomy.json` (editable; `TOUSU_TAXONOMY_PATH`): a logistic head
  fitted at start-up on the taxonomy's texts, the shipped labelled bank and the user's examples; its own
  card is `models/resources/topics/MODEL_CARD.md`. Only a taxonomy without a `scoring` block falls back to
  prototypes (mean embedding of each category's texts), `score = softmax(cosines /
  {manifest["category_temperature"]})`, temperature fitted on {cal.get("data", "-")} (n = {cal.get("n", "-")},
  zero-shot accuracy {cal.get("accuracy", "-")}).

## Data ({m["n_messages"]} messages)
{model_card.table([[s, n] for s, n in sorted(sources.items())], ["source", "messages"])}

{DEFAULT_DATA if default else f"Corpus: `{manifest['corpus']}`."}

## Parameters
{model_card.dump(p)}

UMAP with `low_memory=True` and a fixed `random_state` (single-threaded, deterministic); HDBSCAN
`min_cluster_size` = sqrt(N)/2 bounded to 10..200, `min_samples` {p["min_samples"]}; plain c-TF-IDF
(`language="multilingual"`: BERTopic's "english" strips every non-ASCII character) over jieba words
of at least two characters, minus the stop words in `models/resources/topics/`, that occur in at least
{p["min_df"]} messages (the {p["max_features"]} most frequent at most). Counting messages, not topics,
keeps one-off tokens out of the labels; `reduce_frequent_words` is off because with it such rare
tokens outranked the theme words in the first fits.

## Clustering agreement (`tousu evaluate topics`)
{agreement_table}

## Stable ids
Previous fit: {align["previous"] or "none (ids 0..K-1 by size)"}; threshold {align["threshold"]};
matched {len(align["matched"])}, new {len(align["new"])}, vanished {len(align["vanished"])}
(history in `manifest.json` `vanished`). Next id: {manifest["next_id"]}.

## Topics ({len(topics)}, largest first; at most 40 shown)
{model_card.table(topic_rows, ["id", "label", "size", "category (score)"])}

## Your dataset's own topics (fitted by its jobs)
This shipped model is the generic fallback. A batch job of a `dataset` fits that dataset's own model on
its dump at the end of the job (`models/topics/fit.py`, run by `service/jobs/topics.py` on the e5
embeddings the job's chunks computed; needs the `[train]` extra on the workers) and `/v1/analyze` with
that `dataset` uses its latest one. Differences from this model: the directions of responsible parties and
products (ORG / PRODUCT entities in at least 5 messages, and @-mentions) are projected out of the
embeddings before clustering and assignment, and their names are cut from the texts before c-TF-IDF, so
topics group what went wrong and the parties become per-topic facets; HDBSCAN's excess-of-mass clusters
are used unless one of them holds more than half of the clustered messages (it kept 85% of airline complaint
tweets in one), in which case the leaves of the same cluster tree are; BERTopic's `reduce_outliers`
(embeddings strategy, threshold = the 2nd percentile of the clustered messages' own cosines) keeps
outliers low; names are 2-4 key phrases (jieba words and two-word phrases, c-TF-IDF candidates, maximal
marginal relevance over the encoder's embeddings of the candidates) per language with at least 10% of
the messages, plus three PII-masked representative messages. Ids are aligned to the dataset's previous
model with `align.py`. Agreement with real subject labels against plain BERTopic and KMeans, both ways
of brand handling, and the time and memory of a 100k-message fit: `evaluation/reports/topics.md`,
section 0.

## Limitations
- The largest topic, `{biggest["label"]}`, holds {biggest["size"] / m["n_messages"]:.0%} of the messages:
  HDBSCAN's excess-of-mass selection keeps a dense domain as one cluster when its sub-themes are not
  separated enough at this `min_cluster_size` (`--min-cluster-size` is the lever; not tuned here).
- Categories: 0.77 accuracy on labelled real complaints never fitted on (`evaluation/reports/categories.md`);
  give the head your own labelled examples (`TOUSU_CATEGORY_EXAMPLES`) or edit the taxonomy to fit your
  domain.
- Topic ids are stable only across refits made with `--previous`; see `models/topics/align.py`.
"""
    model_card.write(out, card)
