"""Retention: complaints received (and alerts raised) longer ago than ``TOUSU_STORE_RETENTION_DAYS`` are
deleted with their entity rows, in batches so that a first run over a large store never holds a long lock.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Engine, delete, select

from service.store.tables import alerts, complaint_entities, complaint_hours, complaints
from service.store.writer import lock_datasets


def purge(engine: Engine, before: float, batch: int = 5000) -> int:
    """Delete complaints received before ``before`` and alerts created before it; returns complaints deleted."""
    c, e = complaints.c, complaint_entities.c
    deleted = 0
    while True:
        with engine.begin() as conn:
            old = list(conn.execute(select(c.seq, c.dataset, c.message_id).where(c.received_at < before).limit(batch)))
            by_dataset: dict[str, list[str]] = defaultdict(list)
            for row in old:
                by_dataset[row.dataset].append(row.message_id)
            lock_datasets(conn, by_dataset)
            for dataset, ids in by_dataset.items():
                for start in range(0, len(ids), 500):
                    conn.execute(
                        delete(complaint_entities).where(
                            e.dataset == dataset, e.message_id.in_(ids[start : start + 500])
                        )
                    )
            seqs = [row.seq for row in old]
            for start in range(0, len(seqs), 500):
                conn.execute(delete(complaints).where(c.seq.in_(seqs[start : start + 500])))
        deleted += len(old)
        if len(old) < batch:
            break
    with engine.begin() as conn:  # the hours emptied (their counts went to zero with the rows)
        h = complaint_hours.c
        conn.execute(delete(complaint_hours).where(h.hour <= before // 3600, h.n == 0))
    while True:
        with engine.begin() as conn:
            stale = select(alerts.c.seq).where(alerts.c.created_at < before).limit(batch).scalar_subquery()
            if conn.execute(delete(alerts).where(alerts.c.seq.in_(stale))).rowcount < batch:
                break
    return deleted
