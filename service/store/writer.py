"""Batched, idempotent writes: one upsert per batch on (dataset, message_id), entities replaced.

A retried chunk, a re-run job or a re-sent request rewrites the same rows: the analysis columns
take the new answer, while what people and the escalation sweep changed (status, an escalation to
red, created_at) is kept. Rows go out as one multi-row INSERT ... ON CONFLICT per 1,000 messages
(SQLAlchemy's "insertmanyvalues" on both SQLite and PostgreSQL), in one transaction per batch.

Every message that arrives red raises one ``new_red`` alert when the rules file has that rule
(deduplicated by its key, so a re-run raises none).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Integer,
    String,
    bindparam,
    case,
    column,
    delete,
    text,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite

from service.store.rows import MAX_VALUE_CHARS, Message, RowBuilder
from service.store.tables import alerts, complaint_entities, complaints

# Kept on conflict: what happened to the complaint after it was analysed.
_KEEP = {"seq", "dataset", "message_id", "status", "escalated_at", "created_at"}


def dialect_insert(conn: Connection, table: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _upsert(conn: Connection) -> Insert:
    stmt = dialect_insert(conn, complaints)
    excluded = stmt.excluded
    escalated = complaints.c.escalated_at.is_not(None)
    updates: dict[str, Any] = {c.name: excluded[c.name] for c in complaints.c if c.name not in _KEEP}
    updates["risk_level"] = case((escalated, complaints.c.risk_level), else_=excluded.risk_level)
    updates["risk_reasons"] = case((escalated, complaints.c.risk_reasons), else_=excluded.risk_reasons)
    upsert: Insert = stmt.on_conflict_do_update(index_elements=["dataset", "message_id"], set_=updates)
    return upsert


def lock_datasets(conn: Connection, datasets: Iterable[str]) -> None:
    """PostgreSQL: serialise this transaction's changes to complaints with those of others on the same datasets.

    The hourly-count triggers (migration 0003) lock the rows of ``tousu_complaint_hours`` they add to until
    commit; two transactions of several statements each could take them in opposite orders and deadlock.
    Every writer of many rows (the writer, the escalation sweep, retention, a status change) takes these
    locks first, in one order. SQLite has a single writer anyway.
    """
    if conn.dialect.name == "postgresql":
        for dataset in sorted(set(datasets)):
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"tousu_store:{dataset}"}
            )


def insert_alerts(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(dialect_insert(conn, alerts).on_conflict_do_nothing(index_elements=["key"]), list(rows))


_ENTITY_COLUMNS = ("dataset", "message_id", "idx", "type", "role", "value", "received_at")


def _copy_entities(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY, in the batch's transaction (row-at-a-time INSERTs cost ~0.5 ms per entity)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    columns = ", ".join(_ENTITY_COLUMNS)
    with cursor.copy(f"COPY {complaint_entities.name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in _ENTITY_COLUMNS])


class ComplaintWriter:
    def __init__(self, engine: Engine, builder: RowBuilder, new_red_alerts: bool = True) -> None:
        self.engine = engine
        self.builder = builder
        self.new_red_alerts = new_red_alerts  # the `new_red` rule of the alert rules file

    def set_topics(self, dataset: str, topics: Sequence[tuple[str, int | None, str | None]]) -> int:
        """(message id, topic id, topic label) of rows already stored: only the topic columns change; returns
        how many rows changed (an id the store does not have changes none).

        A job's "topics" step relabels every message of the dump; re-writing whole rows would redact and hash
        each message a second time. PostgreSQL: one UPDATE ... FROM (VALUES ...) per 1,000 rows, so the
        statement triggers of the hourly counts (which do not depend on the topic) run once per batch, not
        once per row. SQLite (no column list on a VALUES alias): one executemany; its row triggers name the
        columns they count, and the topic is not one of them.
        """
        rows = [(m, t, None if label is None else label[:MAX_VALUE_CHARS]) for m, t, label in topics]
        done = 0
        with self.engine.begin() as conn:
            lock_datasets(conn, [dataset])
            if conn.dialect.name != "postgresql":
                stmt = (
                    update(complaints)
                    .where(complaints.c.dataset == dataset, complaints.c.message_id == bindparam("m"))
                    .values(topic_id=bindparam("t"), topic_label=bindparam("label"))
                )
                return int(conn.execute(stmt, [{"m": m, "t": t, "label": label} for m, t, label in rows]).rowcount)
            for start in range(0, len(rows), 1000):
                part = values(
                    column("message_id", String), column("topic_id", Integer), column("topic_label", String), name="v"
                ).data(rows[start : start + 1000])
                stmt = (
                    update(complaints)
                    .where(complaints.c.dataset == dataset, complaints.c.message_id == part.c.message_id)
                    .values(topic_id=part.c.topic_id, topic_label=part.c.topic_label)
                )
                done += conn.execute(stmt).rowcount
        return done

    def write(self, messages: Iterable[Message], now: float) -> int:
        """Upsert the messages (one transaction); returns how many rows were written."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        entities: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for m in messages:
            row, ents = self.builder.build(m, now)
            key = (row["dataset"], row["message_id"])
            rows[key] = row  # the same id twice in one batch: the last answer wins, as it would in two batches
            entities[key] = ents
        if not rows:
            return 0
        by_dataset: dict[str, list[str]] = defaultdict(list)
        for dataset, message_id in rows:
            by_dataset[dataset].append(message_id)
        red = [
            {
                "key": f"new_red:{r['dataset']}:{r['message_id']}",
                "rule": "new_red",
                "dataset": r["dataset"],
                "message_id": r["message_id"],
                "level": "red",
                "details": {"risk_score": r["risk_score"], "reasons": r["risk_reasons"], "category": r["category"]},
                "created_at": now,
            }
            for r in rows.values()
            if r["model_risk_level"] == "red" and self.new_red_alerts
        ]
        with self.engine.begin() as conn:
            lock_datasets(conn, by_dataset)
            conn.execute(_upsert(conn), list(rows.values()))
            for dataset, ids in by_dataset.items():
                for start in range(0, len(ids), 500):
                    part = ids[start : start + 500]
                    conn.execute(
                        delete(complaint_entities).where(
                            complaint_entities.c.dataset == dataset, complaint_entities.c.message_id.in_(part)
                        )
                    )
            flat = [e for ents in entities.values() for e in ents]
            if flat and conn.dialect.name == "postgresql":
                _copy_entities(conn, flat)
            elif flat:
                conn.execute(complaint_entities.insert(), flat)
            insert_alerts(conn, red)
        return len(rows)
