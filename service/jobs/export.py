"""Streaming a finished job's results: chunk files in chunk order are the input order.

JSONL is the files as they are (one ``Analysis`` per record, or ``{"id", "line", "error_type",
"error"}`` for a bad record). CSV flattens the same lines into fixed columns; nested blocks
(entities) stay JSON in their cell. The CSV starts with a UTF-8 BOM so that spreadsheet programs
show Chinese correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson

from service.jobs.files import JobFiles

CSV_COLUMNS = (
    "id",
    "line",
    "error_type",
    "error",
    "language",
    "traditional",
    "truncated",
    "sentiment",
    "sentiment_score",
    "sentiment_intensity",
    "p_negative",
    "p_neutral",
    "p_positive",
    "hidden_dissatisfaction",
    "hidden_dissatisfaction_score",
    "category",
    "category_score",
    "topic_id",
    "topic_label",
    "topic_probability",
    "risk_level",
    "risk_score",
    "risk_handoff",
    "entities",
    "redacted_text",
    "schema_version",
)


def iter_jsonl(files: JobFiles, job_id: str, outputs: list[str]) -> Iterator[bytes]:
    for name in outputs:
        with files.output_path(job_id, name).open("rb") as fh:
            while block := fh.read(1024 * 1024):
                yield block


def _lines(files: JobFiles, job_id: str, outputs: list[str]) -> Iterator[bytes]:
    for name in outputs:
        with files.output_path(job_id, name).open("rb") as fh:
            yield from fh


def _get(block: Any, key: str) -> Any:
    return block.get(key) if isinstance(block, dict) else None


def csv_row(item: dict[str, Any]) -> list[Any]:
    s = item.get("sentiment")
    probs = _get(s, "probabilities")
    hidden = item.get("hidden_dissatisfaction")
    category = item.get("category")
    topic = item.get("topic")
    risk = item.get("risk")
    entities = item.get("entities")
    values = {
        "id": item.get("id"),
        "line": item.get("line"),
        "error_type": item.get("error_type"),
        "error": item.get("error"),
        "language": item.get("language"),
        "traditional": item.get("traditional"),
        "truncated": item.get("truncated"),
        "sentiment": _get(s, "label"),
        "sentiment_score": _get(s, "score"),
        "sentiment_intensity": _get(s, "intensity"),
        "p_negative": _get(probs, "negative"),
        "p_neutral": _get(probs, "neutral"),
        "p_positive": _get(probs, "positive"),
        "hidden_dissatisfaction": _get(hidden, "detected"),
        "hidden_dissatisfaction_score": _get(hidden, "score"),
        "category": _get(category, "name"),
        "category_score": _get(category, "score"),
        "topic_id": _get(topic, "id"),
        "topic_label": _get(topic, "label"),
        "topic_probability": _get(topic, "probability"),
        "risk_level": _get(risk, "level"),
        "risk_score": _get(risk, "score"),
        "risk_handoff": _get(risk, "handoff"),
        "entities": None if entities is None else orjson.dumps(entities).decode(),
        "redacted_text": item.get("redacted_text"),
        "schema_version": item.get("schema_version"),
    }
    return ["" if values[c] is None else values[c] for c in CSV_COLUMNS]


def iter_csv(files: JobFiles, job_id: str, outputs: list[str]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    for n, line in enumerate(_lines(files, job_id, outputs), start=1):
        if line.strip():
            writer.writerow(csv_row(orjson.loads(line)))
        if n % 1000 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")
