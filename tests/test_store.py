"""The complaint store against SQLite and the real PostgreSQL: schema, writes, queries, escalation, retention."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from service.store import migrate
from service.store.escalation import sweep
from service.store.queries import CursorError, Filters, decode_cursor
from service.store.retention import purge
from service.store.rows import Message
from service.store.runtime import ComplaintStore
from service.store.tables import alerts, complaint_entities, complaints, metadata
from tests.store_support import SALT, analysis, entity, store_settings, ts


def count(s: ComplaintStore, table: object, *where: object) -> int:
    with s.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def msg(i: int, **kw: object) -> Message:
    a = kw.pop("analysis", None) or analysis()
    return Message("shop", a, f"第{i}单退款还没到", id=f"m{i}", **kw)  # type: ignore[arg-type]


def test_migrations_build_exactly_the_tables_and_go_down_and_up(store: ComplaintStore) -> None:
    assert migrate.current(store.engine) == migrate.head()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": migrate.VERSION_TABLE})
        diff = compare_metadata(context, metadata)
    assert diff == []
    migrate.upgrade(store.engine)  # a second start-up: nothing to do
    migrate.downgrade(store.engine, "base")
    assert not {"tousu_complaints", "tousu_complaint_entities", "tousu_alerts"} & set(
        inspect(store.engine).get_table_names()
    )
    migrate.upgrade(store.engine)
    assert migrate.current(store.engine) == migrate.head()


def test_writes_are_idempotent_and_keep_what_happened_since(store: ComplaintStore) -> None:
    ents = [entity("ORDER_ID", "SF1234567890", {"value": "SF1234567890"}), entity("PRODUCT", "iPhone 15")]
    first = [msg(i, analysis=analysis(entities=ents)) for i in range(5)]
    assert store.write(first) == 5
    assert store.write(first) == 5  # a retried chunk
    assert count(store, complaints) == 5 and count(store, complaint_entities) == 10
    store.queries.set_status("shop", "m0", "acknowledged", time.time())
    sweep(store.engine, {"*": 1.0}, time.time() + 3600)  # m0 acknowledged: not escalated; m1..m4 turn red
    # A re-run with a new answer: analysis columns follow it, status / escalation / entities stay consistent.
    again = [msg(i, analysis=analysis(sentiment="neutral", level="blue", entities=ents[:1])) for i in range(5)]
    store.write(again)
    assert count(store, complaints) == 5 and count(store, complaint_entities) == 5
    m0, m1 = store.queries.get("shop", "m0"), store.queries.get("shop", "m1")
    assert m0 is not None and m1 is not None
    assert m0["status"] == "acknowledged" and m0["sentiment"] == "neutral" and m0["risk_level"] == "blue"
    assert m1["risk_level"] == "red" and m1["model_risk_level"] == "blue" and "waiting_time" in m1["risk_reasons"]
    assert [e["type"] for e in m1["entities"]] == ["ORDER_ID"]


def test_messages_without_id_get_a_stable_content_id(store: ComplaintStore) -> None:
    a = analysis()
    m = Message("shop", a, "快递三天没动", channel="app")
    store.write([m, m])
    store.write([m])
    other = Message("shop", a, "快递四天没动", channel="app")
    store.write([other])
    page = store.queries.page(Filters(dataset="shop"), 10)
    assert len(page.items) == 2 and all(i["id"].startswith("h:") for i in page.items)


def test_personal_data_is_masked_hashed_and_the_salt_is_nowhere(store: ComplaintStore) -> None:
    phone = "13812345678"
    raw = [entity("PHONE", phone, {"e164": "+86" + phone}, pii=True, start=3), entity("PERSON", "张伟", pii=True)]
    text_ = f"张伟说{phone}打不通，邮件 li.lei@example.com"
    a = analysis(entities=raw)
    store.write([Message("shop", a, text_, id="p1", customer_id="cust-42", include_pii=True)])
    item = store.queries.get("shop", "p1")
    assert item is not None
    assert phone not in str(item) and "张伟" not in str(item) and "li.lei" not in str(item)
    assert item["text"].startswith("[PERSON]说[PHONE]") and "[EMAIL]" in item["text"]
    assert {e["value"] for e in item["entities"]} == {"+86138****5678", "张*"}
    with store.engine.connect() as conn:
        stored_hash = conn.execute(select(complaints.c.customer_hash)).scalar_one()
        dump = " ".join(str(tuple(r)) for t in metadata.sorted_tables for r in conn.execute(select(t)))
    assert stored_hash == hmac.new(SALT.encode(), b"cust-42", hashlib.sha256).hexdigest()
    assert "cust-42" not in dump and SALT not in dump and phone not in dump


def test_without_a_salt_no_customer_key_is_stored(tmp_path: Path) -> None:
    s = ComplaintStore.open(store_settings(tmp_path, None, store_salt=None, risk_salt=None))
    try:
        s.write([Message("shop", analysis(), "退款", id="x", customer_id="cust-42")])
        with s.engine.connect() as conn:
            assert conn.execute(select(complaints.c.customer_hash)).scalar_one() is None
    finally:
        s.close()


def test_keyset_pages_cover_every_row_once_in_order(store: ComplaintStore) -> None:
    base = ts("2026-03-01T10:00:00")
    # ties on received_at (every third row shares its time) must neither repeat nor skip a row
    store.write(msg(i, received_at=_dt(base + (i // 3) * 60)) for i in range(25))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.queries.page(Filters(dataset="shop"), 10, cursor)
        pages += 1
        seen += [i["id"] for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3 and len(seen) == 25 and len(set(seen)) == 25
    times = [store.queries.get("shop", i)["received_at"] for i in seen]  # type: ignore[index]
    assert times == sorted(times, reverse=True)
    with pytest.raises(CursorError):
        decode_cursor("not-a-cursor")
    with pytest.raises(CursorError):
        decode_cursor("WzEsInR3byJd")  # [1,"two"]


def test_filters(store: ComplaintStore) -> None:
    t0 = ts("2026-03-02T08:00:00")
    order = entity("ORDER_ID", "SF1234567890", {"value": "SF1234567890"})
    store.write(
        [
            Message("shop", analysis(entities=[order, entity("PRODUCT", "iPhone")]), "a", id="a", channel="app",
                    received_at=_dt(t0)),
            Message("shop", analysis(level="red", category="logistics_delay", topic=2,
                                     entities=[entity("ORG", "顺丰")]), "b", id="b", channel="phone",
                    received_at=_dt(t0 + 3600)),
            Message("shop", analysis(sentiment="positive", level="blue", dissatisfied=True), "c", id="c",
                    received_at=_dt(t0 + 7200)),
            Message("other", analysis(entities=[entity("PRODUCT", "iPhone")]), "d", id="d", received_at=_dt(t0)),
        ]
    )  # fmt: skip

    def ids(**kw: object) -> list[str]:
        return sorted(i["id"] for i in store.queries.page(Filters(**kw), 50).items)  # type: ignore[arg-type]

    assert ids(dataset="shop") == ["a", "b", "c"]
    assert ids(product="iPhone") == ["a", "d"]
    assert ids(party="顺丰") == ["b"]
    assert ids(identifier="SF1234567890") == ["a"]
    assert ids(risk_level="red") == ["b"] and ids(category="logistics_delay") == ["b"] and ids(topic=2) == ["b"]
    assert ids(channel="app") == ["a"] and ids(sentiment="positive") == ["c"] and ids(dissatisfied=True) == ["c"]
    assert ids(dataset="shop", since=t0 + 1, until=t0 + 7200) == ["b"]
    store.queries.set_status("shop", "c", "resolved", time.time())
    assert ids(status="resolved") == ["c"] and ids(status="open", dataset="shop") == ["a", "b"]


def test_stats_by_day_week_and_dimension(store: ComplaintStore) -> None:
    day1, day2 = ts("2026-03-02T23:30:00"), ts("2026-03-03T10:00:00")  # Monday 23:30 UTC is Tuesday in UTC+8
    iphone = [entity("PRODUCT", "iPhone"), entity("PRODUCT", "iPhone", start=5)]  # twice in one message: once
    store.write(
        [
            Message("shop", analysis(entities=iphone), "a", id="a", received_at=_dt(day1)),
            Message("shop", analysis(sentiment="neutral", dissatisfied=True), "b", id="b", received_at=_dt(day1)),
            Message("shop", analysis(level="red", entities=iphone[:1]), "c", id="c", received_at=_dt(day2)),
            Message("shop", analysis(sentiment="positive", level="blue"), "d", id="d", received_at=_dt(day2)),
        ]
    )
    days = store.queries.stats(Filters(dataset="shop"), "day")
    assert [(g["key"], g["count"], g["negative"], g["dissatisfied"], g["red"]) for g in days] == [
        ("2026-03-02", 2, 1, 1, 0),
        ("2026-03-03", 2, 1, 0, 1),
    ]
    assert days[0]["negative_rate"] == 0.5 and days[0]["dissatisfied_rate"] == 0.5
    shifted = store.queries.stats(Filters(dataset="shop"), "day", utc_offset_s=8 * 3600)
    assert [(g["key"], g["count"]) for g in shifted] == [("2026-03-03", 4)]
    weeks = store.queries.stats(Filters(dataset="shop"), "week")
    assert [(g["key"], g["count"]) for g in weeks] == [("2026-03-02", 4)]  # 2026-03-02 is a Monday
    products = store.queries.stats(Filters(dataset="shop"), "product")
    assert [(g["key"], g["count"], g["red"]) for g in products] == [("iPhone", 2, 1)]
    sentiments = store.queries.stats(Filters(dataset="shop"), "sentiment")
    assert {g["key"]: g["count"] for g in sentiments} == {"negative": 2, "neutral": 1, "positive": 1}


def test_escalation_turns_overdue_yellow_red_once(store: ComplaintStore) -> None:
    now = time.time()
    store.write(
        [
            Message("shop", analysis(category="price_and_billing"), "a", id="late", received_at=_dt(now - 48 * 60)),
            Message("shop", analysis(category="price_and_billing"), "b", id="early", received_at=_dt(now - 40 * 60)),
            Message("shop", analysis(category="logistics_delay"), "c", id="other", received_at=_dt(now - 48 * 60)),
            Message("shop", analysis(category=None), "d", id="none", received_at=_dt(now - 5 * 3600)),
            Message("shop", analysis(level="blue", category="price_and_billing"), "e", id="blue",
                    received_at=_dt(now - 3600)),
        ]
    )  # fmt: skip
    store.queries.set_status("shop", "none", "resolved", now)
    patience = {"price_and_billing": 47.0, "*": 240.0}
    done = sweep(store.engine, patience, now)
    assert [(e.message_id, e.category) for e in done] == [("late", "price_and_billing")]
    assert sweep(store.engine, patience, now) == []  # a second sweeper finds nothing left
    late = store.queries.get("shop", "late")
    assert late is not None and late["risk_level"] == "red" and late["risk_reasons"][-1] == "waiting_time"
    assert late["escalated_at"] is not None
    items, _ = store.queries.alerts("shop", "waiting_time", None, 10, None)
    assert len(items) == 1 and items[0]["message_id"] == "late"
    assert items[0]["details"]["patience_minutes"] == 47.0 and items[0]["details"]["waited_minutes"] >= 48
    # later: the logistics one passes the default window; the resolved one never escalates
    assert [e.message_id for e in sweep(store.engine, patience, now + 5 * 3600)] == ["early", "other"]
    assert store.queries.get("shop", "none")["risk_level"] == "yellow"  # type: ignore[index]
    assert store.queries.get("shop", "blue")["risk_level"] == "blue"  # type: ignore[index]


def test_new_red_alerts_once_per_complaint(store: ComplaintStore) -> None:
    red = [msg(i, analysis=analysis(level="red")) for i in range(3)]
    store.write(red)
    store.write(red)  # a re-run raises none
    items, cursor = store.queries.alerts("shop", "new_red", None, 2, None)
    assert len(items) == 2 and cursor is not None
    rest, end = store.queries.alerts("shop", "new_red", None, 2, cursor)
    assert len(rest) == 1 and end is None
    assert sorted(i["message_id"] for i in items + rest) == ["m0", "m1", "m2"]


def test_retention_deletes_old_complaints_with_their_entities(store: ComplaintStore) -> None:
    now = time.time()
    ents = [entity("PRODUCT", "iPhone")]
    old = _dt(now - 400 * 86400)
    store.write(msg(i, analysis=analysis(entities=ents, level="red"), received_at=old) for i in range(3))
    store.write([msg(9, analysis=analysis(entities=ents), received_at=_dt(now))])
    with store.engine.begin() as conn:  # the alerts of the old ones are old too
        conn.execute(alerts.update().values(created_at=now - 400 * 86400))
    assert purge(store.engine, now - 365 * 86400, batch=2) == 3
    assert count(store, complaints) == 1 and count(store, complaint_entities) == 1 and count(store, alerts) == 0
    result = store.sweep(now)
    assert result.purged == 0


def test_sqlite_has_foreign_keys_on(store: ComplaintStore) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL always enforces them")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
