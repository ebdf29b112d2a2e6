"""``tousu topics report``: what a corpus complains about, as an offline HTML page + JSON summary.

    tousu topics report --input CORPUS [--model DIR] --output DIR

Messages are assigned exactly as ``/v1/analyze`` does (``models/topics``: cosine to the topic
embeddings, zero-shot category), then BERTopic's own plotly figures are drawn from the saved
model re-loaded with ``BERTopic.load``: the topic map, keyword bar charts, topics over time
(when the corpus has timestamps) and the topic hierarchy. plotly.js is inlined once, so the
page works without network. Example messages are PII-masked (``models.pii.redact``).
Writes ``DIR/report.html`` and ``DIR/summary.json``.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.settings import ModelSettings
from models.topics.model import OUTLIER_ID, OUTLIER_LABEL, TopicModel
from models.topics.taxonomy import DEFAULT_TEMPERATURE, CategoryMapper, Taxonomy, l2_rows
from training.topics.data import CorpusError, read_corpus
from training.topics.recipe import DEFAULT_OUTPUT, embed

logger = logging.getLogger(__name__)
STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}"
)


def summarize(
    model: TopicModel,
    mapper: CategoryMapper,
    texts: list[str],
    embeddings: np.ndarray,
    timestamps: list[str | None],
    n_records: int,
) -> tuple[dict[str, Any], list[int]]:
    """The JSON summary and the per-message stable topic ids."""
    from models.pii import redact

    assigned = model.assign(embeddings)
    ids = [a.topic.id for a in assigned]
    cats = mapper.categorize(embeddings)
    topic_cats = {t.id: c for t, c in zip(model.topics, mapper.categorize(model.embeddings), strict=True)}
    counts = Counter(ids)
    unit = l2_rows(embeddings.astype(np.float32))
    manifest = model.manifest
    new_ids = set(manifest.get("alignment", {}).get("new", []))
    topics = []
    for t in sorted(model.topics, key=lambda t: (-counts.get(t.id, 0), t.id)):
        members = [i for i, tid in enumerate(ids) if tid == t.id]
        if not members:
            continue
        centre = model.embeddings[model.topics.index(t)]
        sims = unit[members] @ (centre / (np.linalg.norm(centre) or 1.0))
        reps = [redact(texts[members[int(j)]])[:200] for j in np.argsort(-sims, kind="stable")[:3]]
        stamps = sorted(s for s in (timestamps[i] for i in members) if s)
        topics.append(
            {
                "id": t.id,
                "label": OUTLIER_LABEL if t.id == OUTLIER_ID else t.label,
                "keywords": [] if t.id == OUTLIER_ID else list(t.keywords),
                "messages": len(members),
                "share": round(len(members) / len(ids), 4),
                "category": {"name": topic_cats[t.id].name, "score": topic_cats[t.id].score},
                "new_in_last_fit": t.id in new_ids,
                "first_seen": stamps[0] if stamps else None,
                "last_seen": stamps[-1] if stamps else None,
                "representative": reps,
            }
        )
    cat_counts = Counter(c.name for c in cats)
    summary = {
        "model": {"version": model.version, "fit": manifest.get("fit"), "encoder": manifest.get("encoder")},
        "taxonomy": str(mapper.taxonomy.path),
        "records": n_records,
        "messages": len(ids),
        "skipped_records": n_records - len(ids),
        "outlier_share": round(counts.get(OUTLIER_ID, 0) / len(ids), 4),
        "topics": topics,
        "categories": [
            {"name": n, "messages": c, "share": round(c / len(ids), 4)} for n, c in cat_counts.most_common()
        ],
        "vanished_topics": manifest.get("vanished", []),
    }
    return summary, ids


def figures(
    model_dir: Path, model: TopicModel, texts: list[str], ids: list[int], timestamps: list[str | None]
) -> list[tuple[str, str]]:
    """BERTopic's plotly figures as HTML fragments (without plotly.js)."""
    import pandas as pd
    from bertopic import BERTopic

    from training.topics.text import JiebaTokenizer

    bt = BERTopic.load(str(model_dir))
    # The saved vectorizer has no tokenizer (BERTopic cannot serialise a callable): put jieba back.
    bt.vectorizer_model.set_params(tokenizer=JiebaTokenizer(), token_pattern=None, lowercase=False)
    to_bid = {t.id: t.bertopic_id for t in model.topics}
    bids = [to_bid[i] for i in ids]
    counts = Counter(bids)
    bt.topics_ = bids
    bt.topic_sizes_ = {t.bertopic_id: counts.get(t.bertopic_id, 0) for t in model.topics}
    bt.set_topic_labels(
        {t.bertopic_id: f"{t.id}: {OUTLIER_LABEL if t.id == OUTLIER_ID else t.label}" for t in model.topics}
    )
    present = sorted(b for b in counts if b != OUTLIER_ID)
    out: list[tuple[str, str]] = []

    def add(title: str, make: Any) -> None:
        try:
            fig = make()
        except Exception as exc:  # a figure that cannot be drawn (too few topics) must not sink the report
            logger.warning("%s: not drawn (%s)", title, exc)
            out.append((title, f"<p>Not drawn: {html.escape(str(exc))}</p>"))
            return
        out.append((title, fig.to_html(full_html=False, include_plotlyjs=False)))

    add("Topic map", lambda: bt.visualize_topics(topics=present, custom_labels=True))
    add("Keywords per topic", lambda: bt.visualize_barchart(topics=present[:16], n_words=8, custom_labels=True))
    # Parsed here (ISO 8601, UTC): BERTopic's own parsing passes an argument pandas 3 no longer has.
    parsed = pd.to_datetime(pd.Series(timestamps, dtype="object"), format="ISO8601", utc=True, errors="coerce")
    stamped = [i for i, ok in enumerate(parsed.notna()) if ok]
    when = [parsed[i].tz_convert(None) for i in stamped]
    if len(set(when)) >= 2:
        docs = [texts[i] for i in stamped]
        tot = bt.topics_over_time(
            docs,
            when,
            topics=[bids[i] for i in stamped],
            nr_bins=min(20, len(set(when))),
        )
        add("Topics over time", lambda: bt.visualize_topics_over_time(tot, top_n_topics=10, custom_labels=True))
    if len(present) >= 3:
        add(
            "Topic hierarchy",
            lambda: bt.visualize_hierarchy(
                hierarchical_topics=bt.hierarchical_topics(texts), topics=present, custom_labels=True
            ),
        )
    return out


def render(summary: dict[str, Any], parts: list[tuple[str, str]]) -> str:
    from plotly.offline import get_plotlyjs

    esc = html.escape
    rows = "\n".join(
        f"<tr><td>{t['id']}</td><td>{esc(t['label'])}{' <b>new</b>' if t['new_in_last_fit'] else ''}</td>"
        f"<td>{t['messages']}</td><td>{t['share']:.1%}</td><td>{esc(t['category']['name'])}</td>"
        f"<td>{'<br>'.join(esc(r) for r in t['representative'])}</td></tr>"
        for t in summary["topics"]
    )
    cats = "\n".join(
        f"<tr><td>{esc(c['name'])}</td><td>{c['messages']}</td><td>{c['share']:.1%}</td></tr>"
        for c in summary["categories"]
    )
    vanished = ", ".join(f"{v['id']} ({esc(v['label'])})" for v in summary["vanished_topics"]) or "none"
    body = "\n".join(f"<h2>{esc(title)}</h2>\n{fragment}" for title, fragment in parts)
    return f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>tousu topics report</title>
<style>{STYLE}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head><body>
<h1>Complaint topics</h1>
<p>{summary["messages"]} messages ({summary["skipped_records"]} records skipped),
model {esc(summary["model"]["version"])}, outliers {summary["outlier_share"]:.1%}.
Vanished themes (earlier refits): {vanished}.</p>
<h2>Topics</h2><table><tr><th>id</th><th>label</th><th>messages</th><th>share</th><th>category</th>
<th>examples (PII-masked)</th></tr>
{rows}</table>
<h2>Root-cause categories (per message)</h2>
<table><tr><th>category</th><th>messages</th><th>share</th></tr>{cats}</table>
{body}
</body></html>
"""


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu topics report", description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, help="JSONL {id,text,timestamp?} or CSV (text column)")
    ap.add_argument(
        "--model",
        default=str(ModelSettings().topic_model_dir or DEFAULT_OUTPUT),
        help="topic model directory (default: TOUSU_TOPIC_MODEL_DIR or the served one)",
    )
    ap.add_argument("--output", required=True, help="directory for report.html and summary.json")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--taxonomy", default=str(ModelSettings().taxonomy_path), help="default: TOUSU_TAXONOMY_PATH")
    ap.add_argument("--no-figures", action="store_true", help="summary only (no BERTopic / plotly needed)")
    args = ap.parse_args(argv)
    try:
        records = read_corpus(Path(args.input))
    except CorpusError as exc:
        print(f"tousu topics report: {exc}", file=sys.stderr)
        return 2
    usable = [r for r in records if r.error is None]
    if not usable:
        print("tousu topics report: no usable message in the input", file=sys.stderr)
        return 2
    model_dir = Path(args.model)
    model = TopicModel.load(model_dir)
    texts = [r.text for r in usable]
    embeddings, encoder = embed(texts, Path(args.artifacts), progress=False)
    temperature = float(model.manifest.get("category_temperature", DEFAULT_TEMPERATURE))
    mapper = CategoryMapper.build(Taxonomy.load(Path(args.taxonomy)), encoder, temperature)
    timestamps = [r.timestamp for r in usable]
    summary, ids = summarize(model, mapper, texts, embeddings, timestamps, len(records))
    parts = [] if args.no_figures else figures(model_dir, model, texts, ids, timestamps)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render(summary, parts), encoding="utf-8")
    print(f"report: {out / 'report.html'} ({len(summary['topics'])} topics, {summary['messages']} messages)")
    return 0
