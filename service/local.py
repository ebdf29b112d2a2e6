"""``tousu analyze`` run locally: the same Analyzer and answer object as the API."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from models.pipeline import AnalysisInput
from service.app import default_registry
from service.settings import Settings


class InputError(ValueError):
    """A record of the input file cannot be analysed (reported with its line number)."""


def read_records(path: Path) -> Iterator[tuple[int, str | None, str]]:
    """Yield (line number, id, text). JSONL needs ``text``; CSV needs a ``text`` column."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "text" not in reader.fieldnames:
                raise InputError(f"{path}: CSV needs a 'text' column")
            for i, row in enumerate(reader, start=2):
                yield i, row.get("id") or None, row["text"] or ""
        return
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{i}: invalid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise InputError(f"{path}:{i}: each line needs a string 'text'")
            rid = record.get("id")
            yield i, None if rid is None else str(rid), record["text"]


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def analyze_file(src: Path, dst: Path, batch_size: int = 32, progress: bool = True) -> int:
    from tqdm import tqdm

    settings = Settings()
    analyzer = default_registry(settings).analyzer
    total = _count_lines(src) - (1 if src.suffix.lower() == ".csv" else 0)
    show = progress and sys.stderr.isatty()
    errors = 0
    with dst.open("w", encoding="utf-8") as out, tqdm(total=total, disable=not show, unit="msg") as bar:
        batch: list[AnalysisInput] = []
        for line, rid, text in read_records(src):
            if not text.strip() or len(text) > settings.max_text_chars:
                reason = "empty_text" if not text.strip() else "text_too_long"
                _write(out, {"id": rid, "line": line, "error_type": reason})
                errors += 1
                bar.update(1)
                continue
            batch.append(AnalysisInput.prepare(text, {}, rid))
            if len(batch) >= batch_size:
                _flush(analyzer.analyze_batch(batch), out)
                bar.update(len(batch))
                batch = []
        if batch:
            _flush(analyzer.analyze_batch(batch), out)
            bar.update(len(batch))
    if errors:
        print(f"{errors} record(s) could not be analysed; see error_type lines in {dst}", file=sys.stderr)
    return 0


def _flush(results: list, out: IO[str]) -> None:  # type: ignore[type-arg]
    for r in results:
        out.write(r.model_dump_json() + "\n")


def _write(out: IO[str], record: dict[str, object]) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
