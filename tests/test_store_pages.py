"""List pages filtered by an entity value (read from the value's entity rows newest first, migration 0004), on
SQLite and the real PostgreSQL: the same complaints, in the same order, as every matching complaint sorted
by (received_at, seq) newest first, across pages, with a value named twice in one complaint and after a
re-write that moves a complaint in time."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from service.store.queries import Filters
from service.store.rows import Message
from service.store.runtime import ComplaintStore
from service.store.tables import complaint_entities, complaints
from tests.store_support import analysis, entity, ts

T0 = ts("2026-11-02T00:00:00")


def message(i: int, rng: random.Random, received: float) -> Message:
    products = rng.sample(("iPhone", "Mate", "Pixel"), rng.randrange(0, 3))
    if products and rng.random() < 0.3:
        products.append(products[0])  # the same product named twice
    ents = [entity("PRODUCT", p, start=10 * k) for k, p in enumerate(products)]
    if rng.random() < 0.4:
        ents.append(entity("ORG", rng.choice(("shop-a", "shop-b")), start=90))
    return Message(
        rng.choice(("a", "b")),
        analysis(level=rng.choice(("red", "yellow")), entities=ents),
        f"第{i}单",
        id=f"m{i}",
        received_at=datetime.fromtimestamp(received, UTC),
    )


def expected(store: ComplaintStore, filters: Filters) -> list[str]:
    """Every match, newest first, by the plain EXISTS filter."""
    c = complaints.c
    stmt = select(c.message_id).where(*filters.where()).order_by(c.received_at.desc(), c.seq.desc())
    with store.engine.connect() as conn:
        return [r.message_id for r in conn.execute(stmt)]


def paged(store: ComplaintStore, filters: Filters, limit: int) -> list[str]:
    out: list[str] = []
    cursor = None
    while True:
        page = store.queries.page(filters, limit, cursor)
        assert len(page.items) <= limit
        out.extend(item["id"] for item in page.items)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def test_pages_by_entity_value_are_every_match_newest_first(store: ComplaintStore) -> None:
    rng = random.Random(4)
    # many complaints at the same second: the order within it is seq's
    store.write([message(i, rng, T0 + rng.randrange(0, 40) * 60.0) for i in range(120)])
    questions: list[dict[str, Any]] = [
        {"product": "iPhone"},
        {"product": "Mate", "dataset": "a"},
        {"party": "shop-b", "risk_level": "red"},
        {"product": "Pixel", "party": "shop-a"},
        {"product": "iPhone", "since": T0 + 600.0, "until": T0 + 1800.0},
        {"product": "nothing"},
    ]
    for q in questions:
        f = Filters(**q)
        want = expected(store, f)
        for limit in (1, 3, 50):
            assert paged(store, f, limit) == want, (q, limit)
    assert expected(store, Filters(product="iPhone"))  # not vacuous

    # a re-write moves complaints in time: their entity rows move with them
    moved = [message(i, random.Random(i), T0 + 7200.0 + i) for i in range(0, 120, 5)]
    store.write(moved)
    with store.engine.connect() as conn:
        stale = conn.execute(
            select(complaint_entities.c.message_id)
            .join(
                complaints,
                (complaints.c.dataset == complaint_entities.c.dataset)
                & (complaints.c.message_id == complaint_entities.c.message_id),
            )
            .where(complaint_entities.c.received_at != complaints.c.received_at)
        ).all()
    assert stale == []
    for q in questions:
        f = Filters(**q)
        assert paged(store, f, 2) == expected(store, f), q
