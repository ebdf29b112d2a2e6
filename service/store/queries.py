"""Reads of the complaint store: filtered lists with keyset pagination, grouped counts and rates, status.

Lists are ordered newest first by ``(received_at, seq)``; the cursor is that pair of the last row
(opaque to clients), so a page costs one index range scan however deep it is, and rows written
meanwhile never shift a page. Day and week buckets are arithmetic on UNIX seconds (plus the
caller's UTC offset), identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    tuple_,
    update,
)

from service.store.tables import alerts, complaint_entities, complaint_hours, complaints
from service.store.writer import lock_datasets

DAY = 86400.0
WEEK = 7 * DAY
# 1970-01-01 was a Thursday: shifting by three days puts week boundaries on Mondays.
_MONDAY_SHIFT = 3 * DAY
GroupBy = Literal[
    "day", "week", "category", "topic", "channel", "product", "party", "sentiment", "risk_level", "dataset"
]
_COLUMN_GROUPS = {
    "category": complaints.c.category,
    "topic": complaints.c.topic_id,
    "channel": complaints.c.channel,
    "sentiment": complaints.c.sentiment,
    "risk_level": complaints.c.risk_level,
    "dataset": complaints.c.dataset,
}


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Filters:
    dataset: str | None = None
    since: float | None = None  # received_at >= since
    until: float | None = None  # received_at < until
    sentiment: str | None = None
    risk_level: str | None = None
    category: str | None = None
    topic: int | None = None
    product: str | None = None
    party: str | None = None
    channel: str | None = None
    identifier: str | None = None
    status: str | None = None
    dissatisfied: bool | None = None

    def where(self) -> list[ColumnElement[bool]]:
        c = complaints.c
        out: list[ColumnElement[bool]] = []
        equal = {
            c.dataset: self.dataset,
            c.sentiment: self.sentiment,
            c.risk_level: self.risk_level,
            c.category: self.category,
            c.topic_id: self.topic,
            c.channel: self.channel,
            c.status: self.status,
            c.dissatisfied: self.dissatisfied,
        }
        out.extend(column == value for column, value in equal.items() if value is not None)
        if self.since is not None:
            out.append(c.received_at >= self.since)
        if self.until is not None:
            out.append(c.received_at < self.until)
        for role, value in (("product", self.product), ("party", self.party), ("identifier", self.identifier)):
            if value is not None:
                e = complaint_entities.c
                out.append(
                    exists().where(
                        e.dataset == c.dataset, e.message_id == c.message_id, e.role == role, e.value == value
                    )
                )
        return out


def encode_cursor(received_at: float, seq: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([received_at, seq])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, int]:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise CursorError("cursor is not one this service returned") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int | float)
        or not isinstance(value[1], int)
        or isinstance(value[1], bool)
    ):
        raise CursorError("cursor is not one this service returned")
    return float(value[0]), int(value[1])


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _item(row: Any, entities: list[dict[str, Any]]) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["message_id"],
        "dataset": m["dataset"],
        "received_at": _iso(m["received_at"]),
        "channel": m["channel"],
        "language": m["language"],
        "sentiment": m["sentiment"],
        "intensity": m["intensity"],
        "dissatisfied": m["dissatisfied"],
        "hidden_score": m["hidden_score"],
        "risk_level": m["risk_level"],
        "model_risk_level": m["model_risk_level"],
        "risk_score": m["risk_score"],
        "risk_reasons": list(m["risk_reasons"] or []),
        "category": m["category"],
        "topic_id": m["topic_id"],
        "topic_label": m["topic_label"],
        "status": m["status"],
        "text": m["text"],
        "entities": entities,
        "job_id": m["job_id"],
        "escalated_at": _iso(m["escalated_at"]),
        "created_at": _iso(m["created_at"]),
        "updated_at": _iso(m["updated_at"]),
    }


def alert_item(row: Any) -> dict[str, Any]:
    return {
        "id": row.seq,
        "rule": row.rule,
        "dataset": row.dataset,
        "message_id": row.message_id,
        "level": row.level,
        "details": row.details,
        "created_at": _iso(row.created_at),
        "delivered_at": _iso(row.delivered_at),
    }


def _entities(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {k: [] for k in keys}
    if not keys:
        return out
    e = complaint_entities.c
    by_dataset: dict[str, list[str]] = {}
    for dataset, message_id in keys:
        by_dataset.setdefault(dataset, []).append(message_id)
    for dataset, ids in by_dataset.items():
        rows = conn.execute(
            select(e.dataset, e.message_id, e.type, e.role, e.value)
            .where(e.dataset == dataset, e.message_id.in_(ids))
            .order_by(e.message_id, e.idx)
        )
        for r in rows:
            out[(r.dataset, r.message_id)].append({"type": r.type, "role": r.role, "value": r.value})
    return out


def _newest(conn: Connection, filters: Filters, n: int, after: tuple[float, int] | None) -> list[Any]:
    """The ``n`` newest matching complaints older than ``after`` (a cursor's ``(received_at, seq)``).

    Filtered by a product, party or identifier, the rows are read from that value's entity rows newest first
    (index on role, value, received_at) and joined to their complaints: a page costs about ``n`` lookups
    however common or rare the value. A complaint naming the value twice comes out twice, next to each
    other; it is kept once and the read goes on past it until ``n`` complaints are found.
    """
    c = complaints.c
    driver = next(
        (
            (role, v)
            for role, v in (("product", filters.product), ("party", filters.party), ("identifier", filters.identifier))
            if v is not None
        ),
        None,
    )
    if driver is None:
        stmt = select(complaints).where(*filters.where())
        if after is not None:
            stmt = stmt.where(tuple_(c.received_at, c.seq) < tuple_(literal(after[0]), literal(after[1])))
        return list(conn.execute(stmt.order_by(c.received_at.desc(), c.seq.desc()).limit(n)))
    role, value = driver
    found = complaint_entities.alias("found")  # not the table the other value filters' EXISTS correlate to
    e = found.c
    base = (
        select(complaints)
        .select_from(found.join(complaints, and_(c.dataset == e.dataset, c.message_id == e.message_id)))
        .where(e.role == role, e.value == value, *replace(filters, **{role: None}).where())
    )
    if filters.since is not None:  # the same bounds on the entity rows' copy of received_at: an index range
        base = base.where(e.received_at >= filters.since)
    if filters.until is not None:
        base = base.where(e.received_at < filters.until)
    out: list[Any] = []
    seen: set[int] = set()
    while len(out) < n:
        want = n - len(out)
        stmt = base
        if after is not None:
            stmt = stmt.where(
                e.received_at <= after[0],
                tuple_(c.received_at, c.seq) < tuple_(literal(after[0]), literal(after[1])),
            )
        batch = list(conn.execute(stmt.order_by(e.received_at.desc(), c.seq.desc()).limit(want)))
        for row in batch:
            if row.seq not in seen:
                seen.add(row.seq)
                out.append(row)
        if len(batch) < want:
            break
        after = (batch[-1].received_at, batch[-1].seq)
    return out[:n]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


class ComplaintQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(self, filters: Filters, limit: int, cursor: str | None = None) -> Page:
        after = decode_cursor(cursor) if cursor is not None else None
        with self.engine.connect() as conn:
            rows = _newest(conn, filters, limit + 1, after)
            more = len(rows) > limit
            rows = rows[:limit]
            ents = _entities(conn, [(r.dataset, r.message_id) for r in rows])
        items = [_item(r, ents[(r.dataset, r.message_id)]) for r in rows]
        last = rows[-1] if rows else None
        return Page(items, encode_cursor(last.received_at, last.seq) if more and last is not None else None)

    def export(self, filters: Filters, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every matching complaint, newest first, read one keyset page at a time (constant memory)."""
        cursor: str | None = None
        while True:
            page = self.page(filters, page_size, cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get(self, dataset: str, message_id: str) -> dict[str, Any] | None:
        c = complaints.c
        with self.engine.connect() as conn:
            row = conn.execute(select(complaints).where(c.dataset == dataset, c.message_id == message_id)).first()
            if row is None:
                return None
            return _item(row, _entities(conn, [(dataset, message_id)])[(dataset, message_id)])

    def set_status(self, dataset: str, message_id: str, status: str, now: float) -> dict[str, Any] | None:
        c = complaints.c
        with self.engine.begin() as conn:
            lock_datasets(conn, [dataset])
            done = conn.execute(
                update(complaints)
                .where(c.dataset == dataset, c.message_id == message_id)
                .values(status=status, updated_at=now)
            )
            if not done.rowcount:
                return None
        return self.get(dataset, message_id)

    def alerts(
        self, dataset: str | None, rule: str | None, since: float | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        a = alerts.c
        stmt = select(alerts)
        if dataset is not None:
            stmt = stmt.where(a.dataset == dataset)
        if rule is not None:
            stmt = stmt.where(a.rule == rule)
        if since is not None:
            stmt = stmt.where(a.created_at >= since)
        if cursor is not None:
            created, seq = decode_cursor(cursor)
            stmt = stmt.where(tuple_(a.created_at, a.seq) < tuple_(literal(created), literal(seq)))
        stmt = stmt.order_by(a.created_at.desc(), a.seq.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = list(conn.execute(stmt))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [alert_item(r) for r in rows]
        return items, encode_cursor(rows[-1].created_at, rows[-1].seq) if more and rows else None

    # -- stats -------------------------------------------------------------------------------------
    def stats(
        self, filters: Filters, group_by: GroupBy, utc_offset_s: int = 0, limit: int = 100, *, hourly: bool = True
    ) -> list[dict[str, Any]]:
        """Counts and rates per group; time groups in time order, the others by count (largest first).

        With ``hourly`` (the default), a question the hourly counts can answer (``hourly_answers``) is read
        from ``tousu_complaint_hours`` for the whole hours of the period and from the complaints for the
        partial hours at its edges: the same numbers as the plain query, without reading every complaint.
        """
        timed = group_by in ("day", "week")
        with self.engine.connect() as conn:
            if hourly and hourly_answers(filters, group_by, utc_offset_s):
                sums = _hourly_sums(conn, filters, group_by, utc_offset_s)
                rows = [(key, *values) for key, values in sums.items() if values[0]]
                if timed:
                    rows.sort(key=lambda r: r[0])
                else:
                    nulls_first = conn.dialect.name == "sqlite"  # as ORDER BY key puts them there
                    rows.sort(key=lambda r: (-r[1], (r[0] is not None) == nulls_first, r[0] or ""))
                    rows = rows[:limit]
            else:
                rows = [
                    tuple(r)
                    for r in conn.execute(_plain_stats(filters, group_by, conn.dialect.name, utc_offset_s, limit))
                ]
        out = []
        for row in rows:
            n = int(row[1])
            neg, dis, n_red, n_open = (int(v or 0) for v in row[2:6])
            out.append(
                {
                    "key": _time_key(row[0], group_by) if timed else row[0],
                    "count": n,
                    "negative": neg,
                    "negative_rate": neg / n if n else 0.0,
                    "dissatisfied": dis,
                    "dissatisfied_rate": dis / n if n else 0.0,
                    "red": n_red,
                    "open": n_open,
                }
            )
        return out


# What the hourly counts are kept by, and the groups they can answer.
_HOURLY_FILTERS = frozenset({"dataset", "since", "until", "channel", "category"})
_HOURLY_GROUPS = frozenset({"day", "week", "dataset", "channel", "category"})
HOUR = 3600


def hourly_answers(filters: Filters, group_by: str, utc_offset_s: int) -> bool:
    """Whether ``tousu_complaint_hours`` can answer: filters and group among its columns, and local days
    made of whole hours (an offset such as UTC+5:30 splits hours between days)."""
    used = {name for name, value in vars(filters).items() if value is not None}
    return group_by in _HOURLY_GROUPS and used <= _HOURLY_FILTERS and utc_offset_s % HOUR == 0


def _plain_stats(
    filters: Filters, group_by: GroupBy, dialect: str, utc_offset_s: int, limit: int | None
) -> Select[Any]:
    c = complaints.c
    source, key = dimension(group_by, dialect, utc_offset_s)
    count = func.count()
    negative, dissatisfied, red = measures()
    open_ = func.sum(case((c.status == "open", 1), else_=0))
    stmt: Select[Any] = (
        select(key.label("key"), count.label("count"), negative, dissatisfied, red, open_)
        .select_from(source)
        .where(*filters.where())
        .group_by(key)
    )
    if group_by in ("day", "week"):
        return stmt.order_by(key)
    stmt = stmt.order_by(count.desc(), key)
    return stmt if limit is None else stmt.limit(limit)


def _hourly_sums(conn: Connection, filters: Filters, group_by: GroupBy, utc_offset_s: int) -> dict[Any, list[int]]:
    """Sums per group: whole hours from the hourly counts, the partial hours at the edges from the complaints."""
    first = None if filters.since is None else math.ceil(filters.since / HOUR)  # first whole hour
    end = None if filters.until is None else math.floor(filters.until / HOUR)  # the hour after the last whole one
    sums: dict[Any, list[int]] = {}

    def add(key: Any, values: Any) -> None:
        total = sums.setdefault(key, [0, 0, 0, 0, 0])
        for k, v in enumerate(values):
            total[k] += int(v or 0)

    if first is not None and end is not None and first >= end:  # no whole hour: the plain query
        edges = [filters]
    else:
        edges = []
        if first is not None and filters.since is not None and first * HOUR > filters.since:
            edges.append(replace(filters, until=first * HOUR))
        if end is not None and filters.until is not None and end * HOUR < filters.until:
            edges.append(replace(filters, since=end * HOUR))
        h = complaint_hours.c
        column = h.hour if group_by in ("day", "week") else h[group_by]
        stmt = select(
            column, func.sum(h.n), func.sum(h.negative), func.sum(h.dissatisfied), func.sum(h.red), func.sum(h.open)
        ).group_by(column)
        if first is not None:
            stmt = stmt.where(h.hour >= first)
        if end is not None:
            stmt = stmt.where(h.hour < end)
        for name in ("dataset", "channel", "category"):
            value = getattr(filters, name)
            if value is not None:
                stmt = stmt.where(h[name] == value)
        for row in conn.execute(stmt):
            if group_by in ("day", "week"):
                width, shift = (DAY, 0.0) if group_by == "day" else (WEEK, _MONDAY_SHIFT)
                add(math.floor((row[0] * HOUR + utc_offset_s + shift) / width), row[1:])
            else:
                add(row[0], row[1:])
    for edge in edges:
        for row in conn.execute(_plain_stats(edge, group_by, conn.dialect.name, utc_offset_s, None)):
            add(int(row[0]) if group_by in ("day", "week") else row[0], row[1:])
    return sums


def dimension(group_by: GroupBy, dialect: str, utc_offset_s: int = 0) -> tuple[Any, ColumnElement[Any]]:
    """What to select from and the key to group by: a time bucket, a column, or an entity value."""
    c = complaints.c
    if group_by in ("day", "week"):
        width, shift = (DAY, 0.0) if group_by == "day" else (WEEK, _MONDAY_SHIFT)
        scaled = (c.received_at + (utc_offset_s + shift)) / width
        return complaints, func.floor(scaled) if dialect == "postgresql" else cast(scaled, Integer)
    if group_by in _COLUMN_GROUPS:
        return complaints, _COLUMN_GROUPS[group_by]
    # product / party: one row per (complaint, value), however often the value is mentioned
    e = complaint_entities.c
    pairs = select(e.dataset, e.message_id, e.value).where(e.role == group_by).distinct().subquery("entity_values")
    return complaints.join(pairs, and_(pairs.c.dataset == c.dataset, pairs.c.message_id == c.message_id)), pairs.c.value


def measures() -> tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
    """Sums of negative, dissatisfied and red complaints."""
    c = complaints.c
    return (
        func.sum(case((c.sentiment == "negative", 1), else_=0)),
        func.sum(case((c.dissatisfied == True, 1), else_=0)),  # noqa: E712 (SQL, not Python)
        func.sum(case((c.risk_level == "red", 1), else_=0)),
    )


def _time_key(bucket: Any, group_by: str) -> str:
    """The bucket's first day as a local date (a week is named by its Monday)."""
    index = int(bucket)
    start = index * (DAY if group_by == "day" else WEEK) - (0.0 if group_by == "day" else _MONDAY_SHIFT)
    return (datetime(1970, 1, 1) + timedelta(seconds=start)).date().isoformat()
