"""Escalation over time: an open yellow complaint that waits past its category's patience turns red.

The patience windows are a setting (``TOUSU_STORE_PATIENCE_MINUTES``, JSON: category -> minutes, ``*``
for every other category). A sweep finds the overdue rows through the (status, risk_level,
received_at) index and moves each with a conditional UPDATE (still open and yellow), so two sweepers
(the API and every worker run one) escalate a complaint once; each escalation records the reason
``waiting_time`` on the complaint and writes one ``waiting_time`` alert.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, or_, select, true, update

from service.store.tables import complaints
from service.store.writer import insert_alerts, lock_datasets

logger = logging.getLogger(__name__)

REASON = "waiting_time"
DEFAULT_KEY = "*"


@dataclass(frozen=True)
class Escalated:
    dataset: str
    message_id: str
    category: str | None
    waited_s: float


def _windows(patience_minutes: Mapping[str, float]) -> list[tuple[ColumnElement[bool], float]]:
    c = complaints.c
    named = {k: v for k, v in patience_minutes.items() if k != DEFAULT_KEY}
    out: list[tuple[ColumnElement[bool], float]] = [(c.category == k, v * 60) for k, v in named.items()]
    if DEFAULT_KEY in patience_minutes:
        other = or_(c.category.is_(None), c.category.not_in(list(named))) if named else true()
        out.append((other, patience_minutes[DEFAULT_KEY] * 60))
    return out


def sweep(engine: Engine, patience_minutes: Mapping[str, float], now: float, batch: int = 500) -> list[Escalated]:
    """Escalate every overdue complaint; returns the ones this call escalated."""
    c = complaints.c
    done: list[Escalated] = []
    for in_group, window in _windows(patience_minutes):
        while True:
            with engine.begin() as conn:
                rows = list(
                    conn.execute(
                        select(c.seq, c.dataset, c.message_id, c.category, c.received_at, c.risk_reasons)
                        .where(c.status == "open", c.risk_level == "yellow", c.received_at < now - window, in_group)
                        .limit(batch)
                    )
                )
                lock_datasets(conn, (r.dataset for r in rows))
                won: list[Escalated] = []
                for r in rows:
                    reasons = [*(r.risk_reasons or []), REASON]
                    moved = conn.execute(
                        update(complaints)
                        .where(c.seq == r.seq, c.status == "open", c.risk_level == "yellow")
                        .values(risk_level="red", risk_reasons=reasons, escalated_at=now, updated_at=now)
                    )
                    if moved.rowcount:
                        won.append(Escalated(r.dataset, r.message_id, r.category, now - r.received_at))
                insert_alerts(
                    conn,
                    [
                        {
                            "key": f"{REASON}:{e.dataset}:{e.message_id}",
                            "rule": REASON,
                            "dataset": e.dataset,
                            "message_id": e.message_id,
                            "level": "red",
                            "details": {
                                "category": e.category,
                                "waited_minutes": round(e.waited_s / 60, 1),
                                "patience_minutes": window / 60,
                            },
                            "created_at": now,
                        }
                        for e in won
                    ],
                )
            done.extend(won)
            if len(rows) < batch:
                break
    if done:
        logger.info("escalation sweep: %d complaint(s) turned red after waiting", len(done))
    return done
