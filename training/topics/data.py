"""Corpora for the topic model: the default complaint corpus, the scale benchmark, labelled sets.

Everything is read in place from ``../shared/data`` (``training/data.py``). Texts are clipped
to ``CLIP_CHARS`` characters, so that all three corpora share the on-disk embedding cache
(``training/features.py``) and the benchmark's messages average 42 characters.
A user corpus (``--input``) is read as it is, never clipped.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from training import data

CLIP_CHARS = 120
SEED = 7


@dataclass(frozen=True)
class Record:
    """One message of a topic corpus. ``error`` is set when the input line cannot be used."""

    id: str | None
    text: str
    timestamp: str | None = None
    label: str | None = None
    source: str = ""
    line: int = 0
    error: str | None = None


class CorpusError(ValueError):
    """The corpus file cannot be read at all (wrong format, no text column)."""


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    return text.strip()[:limit]


def _car_implicit(split: str = "reviewTrain.txt") -> Iterator[tuple[str, int]]:
    path = data.data_root() / "car_implicit_opinion" / split
    with path.open(encoding="utf-8-sig") as fh:
        for i, line in enumerate(fh):
            text, _, score = line.rstrip("\n").rpartition("\t")
            if i == 0 and score == "score":
                continue
            if text.strip() and score.strip() in ("-1", "1"):
                yield text.strip(), int(score)


def _dedupe(records: list[Record]) -> list[Record]:
    seen: set[str] = set()
    out = []
    for r in records:
        if r.text and r.text not in seen:
            seen.add(r.text)
            out.append(r)
    return out


def default_corpus(seed: int = SEED, per_source: int = 8000) -> list[Record]:
    """Complaint-like messages from several domains, at most ``per_source`` from each.

    Negative shopping reviews (10 product kinds), negative implicit car-owner opinions,
    BANKING77 customer-service queries (English) and SMP2019-ECISA implicit-negative
    sentences: the public stand-ins for a ticket queue.
    """
    rng = random.Random(seed)
    sources: dict[str, list[Record]] = {
        "online_shopping_10_cats": [
            Record(None, clip(e.text), label=e.group, source=e.source)
            for e in data.online_shopping()
            if e.label == "negative"
        ],
        "car_implicit_opinion": [
            Record(None, clip(t), source="car_implicit_opinion") for t, s in _car_implicit() if s == -1
        ],
        "banking77_en": [Record(None, clip(t), label=c, source="banking77_en") for t, c in data.banking77("train")],
        "SMP2019_ECISA": [Record(None, clip(t), source="SMP2019_ECISA") for t, label, _ in data.ecisa() if label == 2],
    }
    out: list[Record] = []
    for name in sorted(sources):
        items = _dedupe(sources[name])
        rng.shuffle(items)
        out.extend(items[:per_source])
    rng.shuffle(out)
    return [Record(f"{r.source}-{i}", r.text, None, r.label, r.source) for i, r in enumerate(out)]


def benchmark_texts(n: int, seed: int = SEED, repeat: bool = False) -> list[str]:
    """``n`` distinct messages (up to about 107k) for the scale benchmark; ``repeat``: more than that, the
    distinct ones over again in the same order (a dump of a million messages repeats itself too).

    All of online_shopping_10_cats (both polarities, 62.8k), car_implicit_opinion (all
    splits, 26.6k), BANKING77 train + test (13.1k) and SMP2019-ECISA (5.1k), clipped to
    ``CLIP_CHARS`` characters (mean 42), deduplicated, shuffled with ``seed``.
    """
    texts = [e.text for e in data.online_shopping()]
    for split in ("reviewTrain.txt", "reviewDev.txt", "reviewTest.txt"):
        texts += [t for t, _ in _car_implicit(split)]
    texts += [t for t, _ in data.banking77("train")] + [t for t, _ in data.banking77("test")]
    texts += [t for t, _, _ in data.ecisa()]
    unique = list(dict.fromkeys(clip(t) for t in texts if t.strip()))
    random.Random(seed).shuffle(unique)
    if n > len(unique) and not repeat:
        raise ValueError(f"only {len(unique)} distinct messages available, {n} requested")
    return [unique[i % len(unique)] for i in range(n)]


def labelled_sets(seed: int = SEED, shopping_n: int = 10_000) -> dict[str, tuple[list[str], list[str]]]:
    """Labelled clusterings to score against: product category (zh) and intent (en).

    online_shopping_10_cats: a seeded sample of ``shopping_n`` reviews, label = product
    category (both polarities). banking77_en: train + test, label = one of 77 intents.
    """
    shop = [(clip(e.text), e.group) for e in data.online_shopping()]
    shop = list(dict(shop).items())  # dedupe texts, keep one label
    random.Random(seed).shuffle(shop)
    shop = shop[:shopping_n]
    bank = list(dict([(clip(t), c) for t, c in [*data.banking77("train"), *data.banking77("test")]]).items())
    return {
        "online_shopping_10_cats": ([t for t, _ in shop], [c for _, c in shop]),
        "banking77_en": ([t for t, _ in bank], [c for _, c in bank]),
    }


def read_corpus(path: Path) -> list[Record]:
    """Read JSONL ``{"id", "text", "timestamp"?}`` or CSV (``text`` column; ``id``, ``timestamp`` optional).

    Every input record yields one :class:`Record` in input order; a record that cannot be
    used keeps its place with ``error`` set (``invalid_json``, ``invalid_utf8``,
    ``missing_text``, ``empty_text``), so outputs can stay line-aligned with the input.
    """
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    return _read_jsonl(path)


def _read_csv(path: Path) -> list[Record]:
    out = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "text" not in reader.fieldnames:
            raise CorpusError(f"{path}: CSV needs a 'text' column")
        for i, row in enumerate(reader, start=2):
            text = row.get("text") or ""
            out.append(
                Record(
                    row.get("id") or None,
                    text,
                    row.get("timestamp") or None,
                    line=i,
                    error=None if text.strip() else "empty_text",
                )
            )
    return out


def _read_jsonl(path: Path) -> list[Record]:
    out = []
    with path.open("rb") as fh:
        for i, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(Record(None, "", line=i, error="invalid_utf8"))
                continue
            except json.JSONDecodeError:
                out.append(Record(None, "", line=i, error="invalid_json"))
                continue
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                rid = record.get("id") if isinstance(record, dict) else None
                out.append(Record(None if rid is None else str(rid), "", line=i, error="missing_text"))
                continue
            rid, text, ts = record.get("id"), record["text"], record.get("timestamp")
            out.append(
                Record(
                    None if rid is None else str(rid),
                    text,
                    None if ts is None else str(ts),
                    line=i,
                    error=None if text.strip() else "empty_text",
                )
            )
    return out


def _airline_negative_rows() -> list[dict[str, str]]:
    """The negative tweets with a reason, first row per tweet_id, texts with the label leak undone."""
    from training.sentiment.data import undo_airline_leak

    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    with (data.data_root() / "airline_tweets_en" / "Tweets.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = undo_airline_leak((row.get("text") or "").strip())
            reason = (row.get("negativereason") or "").strip()
            if text and reason and row["airline_sentiment"] == "negative" and row["tweet_id"] not in seen:
                seen.add(row["tweet_id"])
                rows.append({**row, "text": text, "negativereason": reason})
    return rows


def airline_complaints() -> tuple[list[str], list[str], list[str]]:
    """Negative tweets to six US airlines with the complaint's reason: (texts, reasons, airlines).

    airline_tweets_en, deduplicated on tweet_id, negative tweets with a reason only; the release's
    "Late Flight" / "Cancelled Flight" substitutions inside texts are undone (they leak the label).
    The reason (Customer Service Issue, Late Flight, Lost Luggage, ...) is what went wrong; the
    airline (every tweet @-mentions one) is who it happened with.
    """
    rows = _airline_negative_rows()
    return [r["text"] for r in rows], [r["negativereason"] for r in rows], [r.get("airline") or "" for r in rows]


def airline_reason_agreed() -> list[bool]:
    """Per tweet of :func:`airline_complaints` (same order): its reason is one the crowd agreed on.

    The release gives each reason a ``negativereason_confidence`` (the annotators' agreement, weighted by
    their trust scores); 1.0 means every annotator chose that reason. "Can't Tell" is no subject. These
    rows are where the reason labels are clean enough to score a clustering against (a third of the tweets).
    """
    out = []
    for r in _airline_negative_rows():
        try:
            confidence = float(r.get("negativereason_confidence") or 0.0)
        except ValueError:
            confidence = 0.0
        out.append(confidence >= 0.999 and r["negativereason"] != "Can't Tell")
    return out
