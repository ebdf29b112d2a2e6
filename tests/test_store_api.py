"""The complaint store through the real app (fake model + keyword stages): jobs and /v1/analyze write it,
/v1/complaints, /v1/stats and /v1/alerts read it, PATCH sets a status, the background sweep escalates."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from service.store.rows import Message
from tests.jobs_support import JobClient, job_settings, jsonl
from tests.store_support import SALT, analysis


@pytest.fixture
async def client(tmp_path: Path, store_database: str | None) -> AsyncIterator[JobClient]:
    settings = job_settings(tmp_path, database_url=store_database, store_salt=SALT, store_sweep_interval_s=0.2)
    c = await JobClient(settings).start()
    yield c
    await c.stop()


def records() -> list[dict[str, Any]]:
    texts = ["退款还没到账", "快递三天没动，我要投诉", "iPhone屏幕有坏点", "服务不错"]
    return [
        {
            "id": f"r{i}",
            "text": f"{texts[i % 4]}，第{i}单",
            "channel": "app" if i % 2 else "phone",
            "received_at": f"2026-03-0{1 + i % 3}T09:00:00+00:00",
            "customer_id": f"c{i % 5}",
        }
        for i in range(12)
    ]


async def get(c: JobClient, path: str, **params: Any) -> Any:
    r = await c.http.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_job_messages_become_rows_once_even_when_the_job_runs_again(client: JobClient) -> None:
    for _ in range(2):
        status = await client.wait(await client.submit(jsonl(records()), dataset="shop"))
        assert status["state"] == "completed"
    page = await get(client, "/v1/complaints", dataset="shop", limit=100)
    assert set(page) == {"items", "next_cursor"} and page["next_cursor"] is None
    items = {i["id"]: i for i in page["items"]}
    assert sorted(items) == sorted(f"r{i}" for i in range(12))
    r1 = items["r1"]
    assert r1["channel"] == "app" and r1["received_at"] == "2026-03-02T09:00:00+00:00"
    assert r1["category"] == "delivery" and r1["risk_level"] == "red" and r1["status"] == "open"
    assert r1["job_id"] == status["id"] and r1["text"].startswith("快递三天没动")
    assert {e["value"] for e in items["r2"]["entities"]} == {"iPhone"}
    # the job's answers and the stored rows agree
    answers = {a["id"]: a for a in await client.results(status["id"])}
    assert all(items[k]["sentiment"] == answers[k]["sentiment"]["label"] for k in items)


async def test_analyze_stores_only_when_a_dataset_is_named(client: JobClient) -> None:
    r = await client.http.post("/v1/analyze", json={"text": "退款还没到账13812345678", "id": "x1"})
    assert r.status_code == 200
    assert (await get(client, "/v1/complaints"))["items"] == []
    body = {"text": "退款还没到账13812345678", "id": "x1", "dataset": "hotline", "channel": "phone"}
    r = await client.http.post("/v1/analyze", json={**body, "options": {"include_pii": True}})
    assert r.status_code == 200 and "13812345678" in r.text  # the caller gets what it asked for...
    [item] = (await get(client, "/v1/complaints", dataset="hotline"))["items"]
    assert item["id"] == "x1" and item["channel"] == "phone"
    assert "13812345678" not in json.dumps(item)  # ...the store keeps it masked
    batch = {"dataset": "hotline", "items": [{"text": "快递很慢", "id": "x2"}, {"text": "发票没开", "id": "x3"}]}
    r = await client.http.post("/v1/analyze/batch", json=batch)
    assert r.status_code == 200
    assert len((await get(client, "/v1/complaints", dataset="hotline"))["items"]) == 3
    r = await client.http.post("/v1/analyze", json={"text": "x", "dataset": "a/b"})
    assert r.status_code == 422 and r.json()["error_type"] == "validation_error"


async def test_pages_filters_and_exports(client: JobClient) -> None:
    await client.wait(await client.submit(jsonl(records()), dataset="shop"))
    seen: list[str] = []
    params: dict[str, Any] = {"dataset": "shop", "limit": 5}
    while True:
        page = await get(client, "/v1/complaints", **params)
        seen += [i["id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == 12 == len(set(seen))
    red = await get(client, "/v1/complaints", risk_level="red", channel="app")
    assert sorted(i["id"] for i in red["items"]) == ["r1", "r5", "r9"]
    march2 = await get(client, "/v1/complaints", since="2026-03-02T00:00:00", until="2026-03-03T00:00:00")
    assert sorted(i["id"] for i in march2["items"]) == ["r1", "r10", "r4", "r7"]
    assert [i["id"] for i in (await get(client, "/v1/complaints", product="iPhone"))["items"]] == ["r2", "r10", "r6"]

    r = await client.http.get("/v1/complaints", params={"dataset": "shop", "format": "csv", "category": "refund"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert sorted(row["id"] for row in rows) == ["r0", "r4", "r8"] and rows[0]["category"] == "refund"
    r = await client.http.get("/v1/complaints", params={"dataset": "shop", "format": "jsonl"})
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert r.headers["content-type"].startswith("application/x-ndjson") and len(lines) == 12


async def test_stats_shapes(client: JobClient) -> None:
    await client.wait(await client.submit(jsonl(records()), dataset="shop"))
    days = await get(client, "/v1/stats", dataset="shop", group_by="day")
    assert set(days) == {"groups"}
    assert [(g["key"], g["count"]) for g in days["groups"]] == [("2026-03-01", 4), ("2026-03-02", 4), ("2026-03-03", 4)]
    assert all({"key", "count", "negative_rate", "dissatisfied_rate", "red"} <= set(g) for g in days["groups"])
    assert sum(g["red"] for g in days["groups"]) == 3
    channels = {g["key"]: g["count"] for g in (await get(client, "/v1/stats", group_by="channel"))["groups"]}
    assert channels == {"app": 6, "phone": 6}
    categories = (await get(client, "/v1/stats", group_by="category"))["groups"]
    assert {g["key"]: g["red"] for g in categories}["delivery"] == 3


async def test_status_changes_and_errors(client: JobClient) -> None:
    await client.wait(await client.submit(jsonl(records()[:2]), dataset="shop"))
    r = await client.http.patch("/v1/complaints/shop/r1", json={"status": "acknowledged"})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert (await get(client, "/v1/complaints/shop/r1"))["status"] == "acknowledged"
    assert [i["id"] for i in (await get(client, "/v1/complaints", status="acknowledged"))["items"]] == ["r1"]
    cases: list[tuple[str, str, dict[str, Any] | None, int, str]] = [
        ("PATCH", "/v1/complaints/shop/nope", {"status": "resolved"}, 404, "not_found"),
        ("PATCH", "/v1/complaints/shop/r1", {"status": "closed"}, 422, "validation_error"),
        ("PATCH", "/v1/complaints/shop/r1", {"status": "resolved", "x": 1}, 422, "validation_error"),
        ("GET", "/v1/complaints/shop/nope", None, 404, "not_found"),
        ("GET", "/v1/complaints?cursor=garbage", None, 422, "validation_error"),
        ("GET", "/v1/complaints?limit=0", None, 422, "validation_error"),
        ("GET", "/v1/complaints?colour=red", None, 422, "validation_error"),
        ("GET", "/v1/complaints?since=yesterday", None, 422, "validation_error"),
        ("GET", "/v1/complaints?risk_level=purple", None, 422, "validation_error"),
        ("GET", "/v1/complaints?format=xml", None, 422, "validation_error"),
        ("GET", "/v1/stats?group_by=planet", None, 422, "validation_error"),
        ("GET", "/v1/stats?utc_offset_minutes=9999", None, 422, "validation_error"),
        ("GET", "/v1/alerts?cursor=WzEsInR3byJd", None, 422, "validation_error"),
        ("GET", "/v1/complaints?category=a%00b", None, 422, "validation_error"),
        ("GET", "/v1/complaints?topic=99999999999999999999", None, 422, "validation_error"),
        ("GET", "/v1/complaints/shop/r%001", None, 404, "not_found"),
        ("PATCH", "/v1/complaints/sh%00op/r1", {"status": "resolved"}, 404, "not_found"),
    ]
    for method, url, body, code, error_type in cases:
        r = await client.http.request(method, url, json=body)
        assert (r.status_code, r.json().get("error_type")) == (code, error_type), (url, r.text)
        assert set(r.json()) == {"error", "error_type"}
    r = await client.http.patch("/v1/complaints/shop/r1", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_json"


async def test_red_alerts_and_the_background_escalation(client: JobClient) -> None:
    await client.wait(await client.submit(jsonl(records()), dataset="shop"))
    alerts = await get(client, "/v1/alerts", rule="new_red")
    assert sorted(a["message_id"] for a in alerts["items"]) == ["r1", "r5", "r9"]
    assert alerts["items"][0]["details"]["category"] == "delivery"
    # a yellow complaint that has waited past the window of its category turns red in the API's sweep
    store = client.app.state.store.get()
    waited = datetime.fromtimestamp(time.time() - 50 * 60, UTC)
    billing = analysis(category="billing_and_charges")
    store.write([Message("shop", billing, "发票金额不对", id="y1", received_at=waited)])
    deadline = time.monotonic() + 10
    while (item := await get(client, "/v1/complaints/shop/y1"))["risk_level"] != "red":
        assert time.monotonic() < deadline, item
        await asyncio.sleep(0.1)
    assert item["risk_reasons"][-1] == "waiting_time" and item["model_risk_level"] == "yellow"
    [alert] = (await get(client, "/v1/alerts", rule="waiting_time"))["items"]
    assert alert["message_id"] == "y1" and alert["details"]["patience_minutes"] == 47.0


async def test_openapi_documents_the_store_routes(client: JobClient) -> None:
    spec = await get(client, "/openapi.json")
    paths = spec["paths"]
    assert {"/v1/complaints", "/v1/stats", "/v1/alerts", "/v1/complaints/{dataset}/{message_id}"} <= set(paths)
    params = {p["name"] for p in paths["/v1/complaints"]["get"]["parameters"]}
    assert {"dataset", "since", "until", "product", "party", "identifier", "cursor", "format", "status"} <= params
    assert "ComplaintPage" in spec["components"]["schemas"] and "StatsResponse" in spec["components"]["schemas"]
    assert "patch" in paths["/v1/complaints/{dataset}/{message_id}"]


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


async def test_alerts_reach_a_signed_webhook_without_slowing_the_job(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received.clear()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    settings = job_settings(tmp_path, store_salt=SALT, store_webhook_url=url, store_webhook_secret="s3cret")
    c = await JobClient(settings).start()
    try:
        status = await c.wait(await c.submit(jsonl(records()), dataset="shop"))
        assert status["state"] == "completed"
        deadline = time.monotonic() + 15
        while len(_Hook.received) < 3:
            assert time.monotonic() < deadline, _Hook.received
            await asyncio.sleep(0.1)
        bodies = [json.loads(body) for body, _ in _Hook.received]
        assert sorted(b["message_id"] for b in bodies) == ["r1", "r5", "r9"]
        for body, headers in _Hook.received:
            assert headers["x-tousu-signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        deadline = time.monotonic() + 5
        while not all(a["delivered_at"] for a in (await get(c, "/v1/alerts"))["items"]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        await c.stop()
        server.shutdown()


@pytest.mark.parametrize("case", ["disabled", "unreachable"])
async def test_without_a_store_analysis_still_works_and_store_routes_say_so(tmp_path: Path, case: str) -> None:
    overrides: dict[str, Any] = (
        {"store_enabled": False}
        if case == "disabled"
        else {"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"}  # nothing listens on port 1
    )
    c = await JobClient(job_settings(tmp_path, **overrides)).start()
    try:
        assert (await c.http.post("/v1/analyze", json={"text": "退款还没到账"})).status_code == 200
        r = await c.http.post("/v1/analyze", json={"text": "退款还没到账", "dataset": "shop"})
        assert r.status_code == 503 and r.json()["error_type"] == "store_unavailable"
        for path in ("/v1/complaints", "/v1/stats", "/v1/alerts", "/v1/complaints/shop/x"):
            r = await c.http.get(path)
            assert r.status_code == 503 and r.json()["error_type"] == "store_unavailable", path
    finally:
        await c.stop()


async def test_without_plotly_the_dashboard_script_names_the_extra(
    client: JobClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.routes import dashboard

    monkeypatch.setattr(dashboard, "_plotly_js", lambda: None)
    r = await client.http.get("/dashboard/plotly.min.js")
    assert r.status_code == 404 and "tousu[dashboard]" in r.json()["error"]
    assert (await client.http.get("/dashboard")).status_code == 200
