"""``tousu analyze`` run locally: the same Analyzer and answer object as the API."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from models.pipeline import AnalysisFailure, AnalysisInput
from models.text import is_blank
from service.app import default_registry
from service.settings import Settings


class InputError(ValueError):
    """A record of the input file cannot be analysed (reported with its line number)."""


def read_records(path: Path) -> Iterator[tuple[int, str | None, str | None, str | None]]:
    """Yield (line number, id, text, error_type). A bad record is yielded with its error
    and never stops the run; only a file without a ``text`` field at all is refused."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "text" not in reader.fieldnames:
                raise InputError(f"{path}: CSV needs a 'text' column")
            for i, row in enumerate(reader, start=2):
                yield i, row.get("id") or None, row["text"] or "", None
        return
    with path.open("rb") as fh:
        for i, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield i, None, None, "invalid_utf8"
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                yield i, None, None, "invalid_json"
                continue
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                yield i, None, None, "missing_text"
                continue
            rid = record.get("id")
            yield i, None if rid is None else str(rid), record["text"], None


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


HTML_LIMIT = 500


def analyze_file(src: Path, dst: Path, batch_size: int = 32, progress: bool = True, html: bool = False) -> int:
    """Analyse every record of ``src`` into ``dst``, one JSON line per record, in input order.

    A record that cannot be analysed becomes ``{"id", "line", "error_type"}`` at its place.
    With ``html``, the entities of the first ``HTML_LIMIT`` records are also rendered with displacy
    into ``dst`` with the suffix ``.html`` (masked personal data, as in the JSON answers).
    """
    pages: list[dict[str, object]] = []
    from tqdm import tqdm

    settings = Settings()
    analyzer = default_registry(settings).analyzer
    total = _count_lines(src) - (1 if src.suffix.lower() == ".csv" else 0)
    errors = 0
    slots: list[AnalysisInput | dict[str, object]] = []
    with (
        dst.open("w", encoding="utf-8") as out,
        tqdm(total=total, disable=not (progress and sys.stderr.isatty()), unit="msg") as bar,
    ):

        def flush() -> None:
            nonlocal errors
            inputs = [s for s in slots if isinstance(s, AnalysisInput)]
            results = iter(analyzer.analyze_each(inputs))  # one failing message never stops the file
            for slot in slots:
                if isinstance(slot, AnalysisInput):
                    result = next(results)
                    if isinstance(result, AnalysisFailure):
                        out.write(json.dumps({"id": slot.id, "error_type": result.error_type}) + "\n")
                        errors += 1
                        continue
                    out.write(result.model_dump_json() + "\n")
                    if html and len(pages) < HTML_LIMIT:
                        from models.entities.render import displacy_doc

                        pages.append(displacy_doc(slot.normalized.original, result.entities or [], slot.id))
                else:
                    out.write(json.dumps(slot, ensure_ascii=False) + "\n")
            bar.update(len(slots))
            slots.clear()

        for line, rid, text, error in read_records(src):
            if text is not None and error is None:
                if is_blank(text):
                    error = "empty_text"
                elif len(text) > settings.max_text_chars:
                    error = "text_too_long"
            if error is not None or text is None:
                slots.append({"id": rid, "line": line, "error_type": error})
                errors += 1
            else:
                slots.append(AnalysisInput.prepare(text, {}, rid))
            if len(slots) >= batch_size:
                flush()
        if slots:
            flush()
    if errors:
        print(f"{errors} record(s) could not be analysed; see error_type lines in {dst}", file=sys.stderr)
    if html:
        from models.entities.render import render_html

        page = dst.with_suffix(".html")
        page.write_text(render_html(pages), encoding="utf-8")
        print(f"entities of {len(pages)} record(s) rendered to {page}", file=sys.stderr)
    return 0
