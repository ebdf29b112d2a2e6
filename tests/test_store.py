"""The complaint store against SQLite and the real PostgreSQL: schema, writes, queries, escalation, retention."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import func, inspect, select

from service.store import migrate
from service.store.alerts import AlertRules, RateRise, SensitiveShare, ShareRise, evaluate, load_rules
from service.store.escalation import sweep
from service.store.queries import CursorError, Filters, decode_cursor
from service.store.retention import purge
from service.store.rows import Message
from service.store.runtime import ComplaintStore
from service.store.tables import alerts, complaint_entities, complaints, metadata
from service.store.webhook import deliver_due
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


def test_the_staff_a_customer_names_is_a_responsible_party_without_the_name(store: ComplaintStore) -> None:
    """A staff mention (models/entities/staff.py) is filed under ``party`` by its masked label."""
    staff = {"kind": "staff", "role": "agent", "party": "jd", "staff_no": None, "id": "jd/agent/小*",
             "name": "京东 客服小*"}  # fmt: skip
    raw = entity("PERSON", "小王", staff, pii=True, start=4)  # the answer of an include_pii request
    store.write([Message("shop", analysis(entities=[raw]), "京东客服小王挂我电话", id="s", include_pii=True)])
    assert [i["id"] for i in store.queries.page(Filters(party="京东 客服小*"), 50).items] == ["s"]
    stored = store.queries.page(Filters(dataset="shop"), 50).items[0]
    assert "小王" not in json.dumps(stored, ensure_ascii=False, default=str)


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


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


# -- alert rules and the webhook ---------------------------------------------------------------------
def test_the_default_rules_file_has_the_documented_defaults_and_bad_files_are_refused(tmp_path: Path) -> None:
    rules = load_rules(None)
    by_type = {r.type: r for r in rules.rules}
    assert rules.version and rules.new_red
    rate = by_type["rate_rise"]
    assert isinstance(rate, RateRise) and (rate.by, rate.metric, rate.rise, rate.min_count) == (
        "channel",
        "negative_rate",
        0.2,
        20,
    )
    sensitive = by_type["sensitive_share"]
    assert isinstance(sensitive, SensitiveShare) and sensitive.threshold == 0.03
    assert {r.by for r in rules.rules if isinstance(r, ShareRise)} == {"category", "topic"}
    bad = [
        {"version": "1", "rules": [{"name": "x", "type": "no_such_rule"}]},
        {"version": "1", "rules": [{"name": "x", "type": "new_red"}, {"name": "x", "type": "new_red"}]},
        {"version": "1", "rules": [{"name": "x", "type": "share_rise", "by": "category", "rise": 0.2, "typo": 1}]},
        {"version": "1", "rules": [{"name": "x", "type": "sensitive_share", "words": [], "threshold": 0.03}]},
        {"rules": []},
    ]
    for i, content in enumerate(bad):
        path = tmp_path / f"rules{i}.json"
        path.write_text(json.dumps(content))
        with pytest.raises(ValidationError):
            load_rules(path)
    with pytest.raises(ValidationError):  # the store refuses to start on a broken file
        ComplaintStore.open(store_settings(tmp_path, None, store_alert_rules_path=tmp_path / "rules0.json"))


def _period(store: ComplaintStore, when: float, tag: str, negative: dict[str, int], late: int, words: int) -> None:
    """25 messages per channel (app, phone); ``negative[channel]`` negative; ``late`` of the 50 in
    logistics_delay; ``words`` of them say 投诉; two app messages name 12315 in the current period."""
    rows = []
    for n in range(50):
        channel = "app" if n < 25 else "phone"
        k = n % 25
        text_ = "发货太慢" + ("我要投诉" if n < words else "") + ("打12315" if tag == "cur" and n in (3, 4) else "")
        a = analysis(
            sentiment="negative" if k < negative[channel] else "neutral",
            level="blue",
            category="logistics_delay" if n >= 50 - late else "other",
        )
        rows.append(Message("shop", a, text_, id=f"{tag}{n}", channel=channel, received_at=_dt(when + n)))
    store.write(rows)


def test_periodic_rules_fire_with_their_numbers_once_per_period(store: ComplaintStore) -> None:
    now = time.time()
    _period(store, now - 30 * 3600, "prev", {"app": 5, "phone": 5}, late=10, words=5)
    _period(store, now - 6 * 3600, "cur", {"app": 7, "phone": 5}, late=13, words=7)
    common = {"rise": 0.2, "min_count": 5, "period_hours": 24}
    rules = AlertRules.model_validate(
        {
            "version": "t",
            "rules": [
                {"name": "neg", "type": "rate_rise", "metric": "negative_rate", "by": "channel", **common},
                {"name": "cat", "type": "share_rise", "by": "category", **common},
                {"name": "kw", "type": "keyword_rise", "keywords": ["投诉", "退款"], **common},
                {"name": "sens", "type": "sensitive_share", "by": "channel", "words": ["12315"], "threshold": 0.03,
                 "min_count": 5, "period_hours": 24},
            ],
        }
    )  # fmt: skip
    fired = evaluate(store.engine, rules, now)
    assert sorted((a["rule"], a["details"].get("group", a["details"].get("keyword"))) for a in fired) == [
        ("cat", "logistics_delay"),
        ("kw", "投诉"),
        ("neg", "app"),
        ("sens", "app"),
    ]
    neg = next(a for a in fired if a["rule"] == "neg")["details"]
    assert neg["current"] == {"count": 25, "rate": 0.28} and neg["previous"] == {"count": 25, "rate": 0.2}
    cat = next(a for a in fired if a["rule"] == "cat")["details"]
    assert cat["current"]["share"] == 0.26 and cat["previous"]["share"] == 0.2
    sens = next(a for a in fired if a["rule"] == "sens")["details"]
    assert sens["current"] == {"count": 25, "with_sensitive_words": 2, "share": 0.08}
    evaluate(store.engine, rules, now + 60)  # the next sweep, same period: nothing new is stored
    stored, _ = store.queries.alerts("shop", None, None, 100, None)
    assert sorted(a["rule"] for a in stored) == ["cat", "kw", "neg", "sens"]
    stricter = rules.model_copy(update={"rules": [r.model_copy(update={"min_count": 30}) for r in rules.rules]})
    assert evaluate(store.engine, stricter, now) == []  # 25 messages per channel: under the minimum


def test_webhook_deliveries_are_signed_and_retried_with_backoff(store: ComplaintStore) -> None:
    store.write([msg(1, analysis=analysis(level="red"))])
    sent: list[tuple[bytes, dict[str, str]]] = []
    answers = [500, 200]

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        assert url == "http://hooks.test/x"
        sent.append((body, headers))
        return answers.pop(0)

    now = time.time()
    assert deliver_due(store.engine, "http://hooks.test/x", b"k3y", now, 5, post) == 0
    assert deliver_due(store.engine, "http://hooks.test/x", b"k3y", now + 5, 5, post) == 0  # backing off
    assert len(sent) == 1
    assert deliver_due(store.engine, "http://hooks.test/x", b"k3y", now + 11, 5, post) == 1
    assert deliver_due(store.engine, "http://hooks.test/x", b"k3y", now + 3600, 5, post) == 0  # delivered: done
    body, headers = sent[1]
    assert headers["x-tousu-signature"] == "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    alert = json.loads(body)
    assert alert["rule"] == "new_red" and alert["message_id"] == "m1"
    [listed], _ = store.queries.alerts(None, "new_red", None, 10, None)
    assert listed["delivered_at"] is not None


def test_tousu_db_upgrade_and_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main

    monkeypatch.setenv("TOUSU_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("TOUSU_DATABASE_URL", raising=False)
    assert main(["db", "current"]) == 0
    assert "schema: none" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"schema: {migrate.head()}" in capsys.readouterr().out
    assert main(["db", "downgrade"]) == 2


def test_text_no_database_takes_is_cleaned_not_fatal(store: ComplaintStore) -> None:
    """A NUL (PostgreSQL refuses it) or a lone surrogate in a message must not fail its chunk on every retry."""
    long_category = analysis(category="c" * 100)  # a user-edited taxonomy: PostgreSQL refuses over 64
    store.write([Message("shop", long_category, "退款\x00没到\ud800", id="n\x00ul", channel="a\x00pp")])
    [item] = store.queries.page(Filters(dataset="shop"), 10).items
    assert item["id"] == "n\ufffdul" and item["channel"] == "a\ufffdpp" and item["text"] == "退款\ufffd没到?"
    assert item["category"] == "c" * 64


def test_a_topic_relabel_changes_only_the_topic_columns(store: ComplaintStore) -> None:
    from tests.test_store_hours import assert_same

    store.write([msg(i, received_at=datetime(2026, 11, 2, 9, i, tzinfo=UTC)) for i in range(5)])
    before = store.queries.stats(Filters(), "day")
    with store.engine.connect() as conn:
        rows_before = {r.message_id: r for r in conn.execute(select(complaints)).all()}
    assert store.writer.set_topics("shop", [("m1", 7, "退款 / 到账"), ("m3", -1, "outlier"), ("m9", 3, "x")]) >= 2
    with store.engine.connect() as conn:
        after = {r.message_id: r for r in conn.execute(select(complaints)).all()}
    assert (after["m1"].topic_id, after["m1"].topic_label) == (7, "退款 / 到账")
    assert (after["m3"].topic_id, after["m3"].topic_label) == (-1, "outlier")
    assert "m9" not in after  # a message the store never had is not invented
    for mid, row in after.items():
        changed = {c for c in row._fields if getattr(row, c) != getattr(rows_before[mid], c)}
        assert changed <= {"topic_id", "topic_label"}, (mid, changed)
    assert store.queries.stats(Filters(), "day") == before  # no count moved
    assert_same(store)
