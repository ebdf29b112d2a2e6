"""The hourly counts (``tousu_complaint_hours``, migration 0003) against the plain stats query, on SQLite and
the real PostgreSQL: the same numbers for every question they answer, after writes, a re-write of the same
ids (that moves rows between hours, channels and categories), status changes, escalation and retention."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from service.store.escalation import sweep
from service.store.queries import Filters, GroupBy, hourly_answers
from service.store.retention import purge
from service.store.rows import Message
from service.store.runtime import ComplaintStore
from service.store.tables import complaint_hours, complaints
from tests.store_support import analysis, ts

T0 = ts("2026-11-02T00:00:00")  # a Monday
CHANNELS = ("app", "web", None)
CATEGORIES = ("refund_and_returns", "product_quality", None)


def messages(seed: int, n: int = 240) -> list[Message]:
    """``n`` messages over 10 days, some on exact hour and day boundaries, every kind of null."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        offset = rng.choice((rng.uniform(0, 10 * 86400), rng.randrange(0, 10 * 24) * 3600.0))
        a = analysis(
            sentiment=rng.choice(("negative", "neutral", "positive")),
            level=rng.choice(("red", "yellow", "blue")),
            category=rng.choice(CATEGORIES),
            dissatisfied=rng.random() < 0.3,
        )
        out.append(
            Message(
                rng.choice(("a", "b")),
                a,
                f"第{i}单退款还没到",
                id=f"m{i}",
                channel=rng.choice(CHANNELS),
                received_at=datetime.fromtimestamp(T0 + offset, UTC),
            )
        )
    return out


PERIODS: list[tuple[float | None, float | None]] = [
    (None, None),
    (T0 + 1800.5, T0 + 5 * 86400 + 7 * 3600 + 12.25),  # partial hours at both ends
    (T0 + 3600, T0 + 3 * 86400),  # whole hours
    (T0 + 3 * 86400 + 100, None),
    (None, T0 + 4 * 86400 + 59),
    (T0 + 7200 + 5, T0 + 7200 + 1000),  # inside one hour
]
GROUPS: tuple[GroupBy, ...] = ("day", "week", "dataset", "channel", "category")


def questions() -> list[tuple[Filters, GroupBy, int]]:
    out = []
    for since, until in PERIODS:
        for group in GROUPS:
            for offset in (0, 8 * 3600, -5 * 3600):
                out.append((Filters(since=since, until=until), group, offset))
            out.append((Filters(since=since, until=until, dataset="a"), group, 0))
            out.append((Filters(since=since, until=until, channel="web", category="product_quality"), group, 0))
    return out


def assert_same(store: ComplaintStore) -> None:
    for filters, group, offset in questions():
        assert hourly_answers(filters, group, offset)
        fast = store.queries.stats(filters, group, offset, limit=2)
        plain = store.queries.stats(filters, group, offset, limit=2, hourly=False)
        assert fast == plain, (filters, group, offset)
    with store.engine.connect() as conn:  # the table holds every complaint, once
        total = conn.execute(select(func.sum(complaint_hours.c.n))).scalar_one()
        assert int(total or 0) == conn.execute(select(func.count()).select_from(complaints)).scalar_one()


def test_hourly_counts_match_the_plain_query_through_every_change(store: ComplaintStore) -> None:
    first = messages(1)
    store.write(first)
    assert_same(store)
    assert store.queries.stats(Filters(), "day")  # not vacuous: there is something to compare

    store.write(first)  # a retried chunk: nothing counted twice
    assert_same(store)
    store.write(messages(2))  # the same ids, other answers, channels, categories and times
    assert_same(store)

    for i in range(0, 240, 7):
        store.queries.set_status("a", f"m{i}", "resolved", T0)
        store.queries.set_status("b", f"m{i}", "acknowledged", T0)
    assert_same(store)
    assert sweep(store.engine, {"*": 60.0}, T0 + 20 * 86400)  # open yellow ones turn red
    assert_same(store)
    assert purge(store.engine, T0 + 4 * 86400 + 1234.5) > 0  # retention, mid-hour
    assert_same(store)
    with store.engine.begin() as conn:  # a hand-made change is counted too
        conn.execute(update(complaints).where(complaints.c.message_id == "m3").values(channel="phone"))
    assert_same(store)


def test_a_rewrite_keeps_escalation_and_status_in_the_counts(store: ComplaintStore) -> None:
    batch = messages(5, n=30)
    store.write(batch)
    sweep(store.engine, {"*": 60.0}, T0 + 20 * 86400)
    store.queries.set_status(batch[0].dataset, "m0", "resolved", T0)
    store.write(batch)  # the writer keeps the status and the escalation: so must the counts
    assert_same(store)
    red = sum(g["red"] for g in store.queries.stats(Filters(), "day"))
    with store.engine.connect() as conn:
        stored = conn.execute(select(func.count()).where(complaints.c.risk_level == "red")).scalar_one()
    assert red == stored


@pytest.mark.parametrize(
    ("filters", "group_by", "offset"),
    [
        (Filters(sentiment="negative"), "day", 0),
        (Filters(topic=1), "day", 0),
        (Filters(product="x"), "category", 0),
        (Filters(), "topic", 0),
        (Filters(), "day", 19800),  # UTC+5:30: days are not made of whole hours
    ],
)
def test_other_questions_go_to_the_complaints(filters: Filters, group_by: Any, offset: int) -> None:
    assert not hourly_answers(filters, group_by, offset)


def test_migration_counts_existing_rows(store: ComplaintStore) -> None:
    """An existing store upgraded to 0003 gets its hours from the rows already there."""
    from service.store import migrate

    store.write(messages(3, n=50))
    migrate.downgrade(store.engine, "0002")
    with store.engine.begin() as conn:  # written while the triggers did not exist
        conn.execute(text("UPDATE tousu_complaints SET status = 'resolved' WHERE message_id = 'm1'"))
    migrate.upgrade(store.engine)
    assert_same(store)


def test_concurrent_writers_keep_the_counts_exact(store: ComplaintStore) -> None:
    """Writers of the same dataset and hours at once (a job's chunks on two workers, re-writes among them):
    no deadlock on the hour rows, no count lost or doubled."""
    from concurrent.futures import ThreadPoolExecutor

    def write(seed: int) -> None:
        batch = messages(seed, n=120)
        for k in range(0, 120, 20):
            store.write(batch[k : k + 20])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(8)))
    assert_same(store)
