"""Reading a dump: JSON Lines or CSV, gzip or not, one validated record (or one per-line error) at a time.

Nothing here holds more than one record in memory, so a 2 GB dump is read in constant space.
A bad record (invalid JSON or UTF-8, no ``text``, empty or too long text, a field of the wrong
type) becomes a :class:`BadRecord` with its line number and a reason; only a file that cannot be
read at all (corrupt gzip, CSV without a ``text`` column, over the size limit) is an
:class:`InputError`. Error messages never quote the record.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import orjson

from models.text import is_blank

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")
GZIP_MAGIC = b"\x1f\x8b"
MAX_ID_CHARS = 256
MAX_CHANNEL_CHARS = 64
_SNIFF_BYTES = 64 * 1024


class InputError(ValueError):
    """The input as a whole cannot be read; the job fails with this message."""


@dataclass(frozen=True)
class Record:
    line: int
    text: str
    id: str | None = None
    received_at: str | None = None  # ISO 8601, validated
    customer_id: str | None = None
    channel: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "id": self.id,
            "text": self.text,
            "received_at": self.received_at,
            "customer_id": self.customer_id,
            "channel": self.channel,
        }


@dataclass(frozen=True)
class BadRecord:
    line: int
    error_type: str
    error: str
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "line": self.line, "error_type": self.error_type, "error": self.error}


def record_from_json(data: dict[str, Any]) -> Record | BadRecord:
    """Inverse of ``to_json`` (chunk input files)."""
    if "error_type" in data:
        return BadRecord(data["line"], data["error_type"], data["error"], data.get("id"))
    return Record(
        data["line"],
        data["text"],
        data.get("id"),
        data.get("received_at"),
        data.get("customer_id"),
        data.get("channel"),
    )


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class _Limited(io.RawIOBase):
    """Counts bytes read from ``inner`` and refuses to go past ``limit`` (gzip bombs, endless streams)."""

    def __init__(self, inner: _Readable, limit: int, closables: tuple[_Readable, ...] = ()) -> None:
        self.inner = inner
        self.limit = limit
        self.count = 0
        self.closables = closables

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            for fh in self.closables:
                fh.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self.inner.read(len(view))
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise InputError(f"the input is not valid gzip ({type(exc).__name__} after {self.count} bytes)") from None
        n = len(data)
        self.count += n
        if self.count > self.limit:
            raise InputError(f"the input is over {self.limit} bytes once decompressed")
        view[:n] = data
        return n


def open_input(path: Path, max_bytes: int) -> io.BufferedReader:
    """A buffered, decompressed (when the file starts with the gzip magic) and size-limited stream."""
    fh: IO[bytes] = path.open("rb")
    if fh.read(2) == GZIP_MAGIC:
        fh.seek(0)
        unzipped = gzip.GzipFile(fileobj=fh, mode="rb")  # GzipFile leaves fileobj open: close both
        return io.BufferedReader(_Limited(unzipped, max_bytes, (unzipped, fh)), buffer_size=1024 * 1024)
    fh.seek(0)
    return io.BufferedReader(_Limited(fh, max_bytes, (fh,)), buffer_size=1024 * 1024)


def sniff(path: Path, declared: Format | None, max_bytes: int) -> Format:
    """Decide the format from the first bytes and refuse inputs that cannot work, before accepting a job."""
    with open_input(path, max_bytes) as stream:
        head = stream.read(_SNIFF_BYTES)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not start:
        raise InputError("the input has no records")
    fmt: Format = declared or ("jsonl" if start[:1] in (b"{", b"[") else "csv")
    if fmt == "jsonl" and start[:1] == b"[":
        raise InputError("send JSON Lines (one object per line), not a JSON array")
    if fmt == "csv":
        first_line = head.decode("utf-8-sig", errors="replace").splitlines()[0]
        header = next(csv.reader([first_line]), [])
        if "text" not in {h.strip().lower() for h in header}:
            raise InputError("CSV needs a header row with a 'text' column")
    return fmt


def read_records(path: Path, fmt: Format, max_text_chars: int, max_bytes: int) -> Iterator[Record | BadRecord]:
    with open_input(path, max_bytes) as stream:
        if fmt == "jsonl":
            yield from _jsonl(stream, max_text_chars)
        else:
            yield from _csv(stream, max_text_chars)


def _jsonl(stream: io.BufferedReader, max_text_chars: int) -> Iterator[Record | BadRecord]:
    max_line = max_text_chars * 4 + 64 * 1024  # the same byte budget as POST /v1/analyze
    line = 0
    while True:
        raw = stream.readline(max_line)
        if not raw:
            return
        line += 1
        if len(raw) >= max_line and not raw.endswith(b"\n"):
            while True:  # skip the rest of an oversized line without holding it
                rest = stream.readline(max_line)
                if not rest or rest.endswith(b"\n"):
                    break
            yield BadRecord(line, "text_too_long", f"line is over {max_line} bytes")
            continue
        if not raw.strip():
            continue
        yield _from_json_line(raw, line, max_text_chars)


def _from_json_line(raw: bytes, line: int, max_text_chars: int) -> Record | BadRecord:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRecord(line, "invalid_utf8", f"line is not valid UTF-8 (byte {exc.start})")
    try:
        data = orjson.loads(decoded)
    except orjson.JSONDecodeError as exc:
        if "surrogate" in str(exc):
            return BadRecord(line, "invalid_utf8", "line contains unpaired surrogate escapes")
        return BadRecord(line, "invalid_json", "line is not valid JSON")
    if not isinstance(data, dict):
        return BadRecord(line, "validation_error", "line is not a JSON object")
    return validate(data, line, max_text_chars)


def _csv(stream: io.BufferedReader, max_text_chars: int) -> Iterator[Record | BadRecord]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    csv.field_size_limit(max(csv.field_size_limit(), max_text_chars * 4 + 1024))
    reader = csv.reader(text)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError("the input has no records") from None
    if "text" not in header:
        raise InputError("CSV needs a header row with a 'text' column")
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num < start:  # no progress: the stream itself is broken
                raise InputError(f"unreadable CSV at line {start}") from None
            yield BadRecord(start, "validation_error", f"malformed CSV row ({str(exc)[:80]})")
            continue
        if not row or all(not cell.strip() for cell in row):
            continue
        fields = {name: (row[i] if i < len(row) else None) for i, name in enumerate(header) if name}
        if any(_has_bad_bytes(v) for v in fields.values()):
            yield BadRecord(start, "invalid_utf8", "row is not valid UTF-8", _clean_id(fields.get("id")))
            continue
        yield validate({k: (v if v != "" or k == "text" else None) for k, v in fields.items()}, start, max_text_chars)


def _has_bad_bytes(value: str | None) -> bool:
    return value is not None and any("\udc80" <= ch <= "\udcff" for ch in value)


def _clean_id(value: object) -> str | None:
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS and not _has_bad_bytes(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def validate(data: dict[str, Any], line: int, max_text_chars: int) -> Record | BadRecord:
    """Check one record's fields; unknown fields are ignored (dumps often carry more columns)."""
    rid = data.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, str | int)):
        return BadRecord(line, "validation_error", "id must be a string or an integer")
    rid = None if rid is None else str(rid)
    if rid is not None and len(rid) > MAX_ID_CHARS:
        return BadRecord(line, "validation_error", f"id is longer than {MAX_ID_CHARS} characters")
    text = data.get("text")
    if not isinstance(text, str):
        return BadRecord(line, "missing_text", "record has no string 'text' field", rid)
    if is_blank(text):  # also only zero-width characters, BOM, bidi marks
        return BadRecord(line, "empty_text", "text is empty", rid)
    if len(text) > max_text_chars:
        return BadRecord(line, "text_too_long", f"text has {len(text)} characters; the limit is {max_text_chars}", rid)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return BadRecord(line, "invalid_utf8", "text contains unpaired surrogates", rid)
    received = data.get("received_at")
    received_iso: str | None = None
    if received is not None:
        try:
            if not isinstance(received, str):
                raise ValueError
            received_iso = datetime.fromisoformat(received.strip()).isoformat()
        except ValueError:
            return BadRecord(line, "validation_error", "received_at is not an ISO 8601 date-time", rid)
    customer = data.get("customer_id")
    if customer is not None and (isinstance(customer, bool) or not isinstance(customer, str | int)):
        return BadRecord(line, "validation_error", "customer_id must be a string or an integer", rid)
    customer = None if customer is None else str(customer)
    if customer is not None and len(customer) > MAX_ID_CHARS:
        return BadRecord(line, "validation_error", f"customer_id is longer than {MAX_ID_CHARS} characters", rid)
    channel = data.get("channel")
    if channel is not None and (not isinstance(channel, str) or len(channel) > MAX_CHANNEL_CHARS):
        return BadRecord(line, "validation_error", f"channel must be a string of at most {MAX_CHANNEL_CHARS}", rid)
    return Record(line, text, rid, received_iso, customer, channel or None)
