"""Retention: complaints received (and alerts raised) longer ago than ``TOUSU_STORE_RETENTION_DAYS`` are
deleted, in batches so that a first run over a large store never holds a long lock. Entity rows go
with their complaint (ON DELETE CASCADE; ``service.jobs.db.make_engine`` turns foreign keys on in SQLite).
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, select

from service.store.tables import alerts, complaints


def purge(engine: Engine, before: float, batch: int = 5000) -> int:
    """Delete complaints received before ``before`` and alerts created before it; returns complaints deleted."""
    deleted = 0
    for table, column in ((complaints, complaints.c.received_at), (alerts, alerts.c.created_at)):
        while True:
            with engine.begin() as conn:
                old = select(table.c.seq).where(column < before).limit(batch).scalar_subquery()
                n = conn.execute(delete(table).where(table.c.seq.in_(old))).rowcount
            if table is complaints:
                deleted += n
            if n < batch:
                break
    return deleted
