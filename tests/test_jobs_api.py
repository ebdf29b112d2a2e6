"""Batch jobs through the HTTP API (in-process queue, SQLite, deterministic fake model)."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import logging
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from models.pipeline import AnalysisInput
from service.jobs.store import JobStore
from tests.jobs_support import JobClient, job_settings, jsonl, make_registry

PHONE = "13812345678"
EMAIL = "li.lei@example.com"


def records(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    topics = ["退款还没到账", "快递三天没动", "屏幕有坏点", "服务不错"]
    return [{"id": f"{prefix}{i}", "text": f"{topics[i % 4]}，第{i}单"} for i in range(n)]


async def test_jsonl_job_end_to_end(job_client: JobClient) -> None:
    good = records(23)
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in good]
    # bad records at known places: line 3 invalid JSON, 6 no text, 9 empty text, 12 invalid UTF-8, 15 too long
    lines.insert(2, b'{"id": "j", "text": ')
    lines.insert(5, b'{"id": "n", "body": "no text"}')
    lines.insert(8, b'{"id": "e", "text": "   "}')
    lines.insert(11, b'{"id": "u", "text": "\xff\xfe"}')
    lines.insert(14, json.dumps({"id": "l", "text": "长" * 5001}).encode())
    lines.insert(17, b"")  # a blank line is not a record
    body = b"\n".join(lines) + b"\n"
    r = await job_client.http.post(
        "/v1/jobs", content=body, params={"dataset": "shop"}, headers={"content-type": "application/x-ndjson"}
    )
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["state"] == "queued" and r.headers["location"] == f"/v1/jobs/{accepted['id']}"
    status = await job_client.wait(accepted["id"])
    assert status["state"] == "completed", status
    assert status["counts"] == {"total": 28, "done": 23, "failed": 5, "pending": 0}
    assert status["progress"] == 1.0 and status["format"] == "jsonl" and status["dataset"] == "shop"

    out = await job_client.results(accepted["id"])
    assert len(out) == 28
    bad = {o["line"]: o["error_type"] for o in out if "error_type" in o}
    assert bad == {3: "invalid_json", 6: "missing_text", 9: "empty_text", 12: "invalid_utf8", 15: "text_too_long"}
    assert all(set(o) == {"id", "line", "error_type", "error"} for o in out if "error_type" in o)
    assert [o["id"] for o in out if "error_type" not in o] == [g["id"] for g in good]  # input order, each once
    assert [o["id"] for o in out if "error_type" in o] == [None, "n", "e", None, "l"]

    # The batch answer is the /v1/analyze answer.
    first = next(o for o in out if o.get("id") == "r0")
    single = (await job_client.http.post("/v1/analyze", json={"text": good[0]["text"], "id": "r0"})).json()
    assert first == single
    assert first["topic"]["label"] == "退款进度" and first["category"]["name"] == "refund"

    # Retention: the inputs are gone, one results file per chunk remains.
    job_dir = job_client.settings.jobs_dir / accepted["id"]
    assert not (job_dir / "input.raw").exists()
    assert sorted(p.name.split(".")[0] for p in (job_dir / "chunks").iterdir()) == ["000000", "000001", "000002"]
    assert all(p.name.endswith(".out.jsonl") for p in (job_dir / "chunks").iterdir())


async def test_gzip_csv_upload_and_csv_results(job_client: JobClient) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", "text", "channel", "extra"])
    writer.writerow(["a", "退款，\n还没到", "app", "x"])  # a quoted field spanning two lines
    writer.writerow(["b", "", "app", "x"])
    writer.writerow(["c", "快递很慢", "phone", "x"])
    payload = gzip.compress(("\ufeff" + text.getvalue()).encode())
    for headers in (
        {"content-type": "text/csv", "content-encoding": "gzip"},
        {"content-type": "application/octet-stream"},  # gzip and CSV both detected from the bytes
    ):
        r = await job_client.http.post("/v1/jobs", content=payload, headers=headers)
        assert r.status_code == 202, r.text
        status = await job_client.wait(r.json()["id"])
        assert status["state"] == "completed" and status["format"] == "csv"
        out = await job_client.results(status["id"])
        assert [o["id"] for o in out] == ["a", "b", "c"]
        assert out[1] == {"id": "b", "line": 4, "error_type": "empty_text", "error": "text is empty"}
        assert out[0]["category"]["name"] == "refund"

    r = await job_client.http.get(f"/v1/jobs/{status['id']}/results", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [row["id"] for row in rows] == ["a", "b", "c"]
    assert rows[1]["error_type"] == "empty_text" and rows[1]["line"] == "4"
    assert rows[0]["sentiment"] in ("negative", "neutral", "positive") and rows[0]["category"] == "refund"
    report = (await job_client.http.get(f"/v1/jobs/{status['id']}/report")).json()
    assert {c["channel"]: c["count"] for c in report["channels"]} == {"app": 1, "phone": 1}


@pytest.mark.parametrize(
    ("body", "headers", "params", "status", "error_type"),
    [
        (b"--x\r\n", {"content-type": "multipart/form-data; boundary=x"}, {}, 415, "unsupported_media_type"),
        (b"<x/>", {"content-type": "application/xml"}, {}, 415, "unsupported_media_type"),
        (b'{"text": "a"}\n', {"content-type": "application/x-ndjson", "content-encoding": "br"}, {}, 415, None),
        (b"", {"content-type": "application/x-ndjson"}, {}, 422, "invalid_upload"),
        (b" \n\n", {"content-type": "application/x-ndjson"}, {}, 422, "invalid_upload"),
        (b"id,body\n1,hello\n", {"content-type": "text/csv"}, {}, 422, "invalid_upload"),
        (b"\x1f\x8bnot really gzip", {"content-type": "application/gzip"}, {}, 422, "invalid_upload"),
        (b'[{"text": "a"}]', {"content-type": "application/octet-stream"}, {}, 422, "invalid_upload"),
        (b'{"text": "a"}\n', {"content-type": "application/x-ndjson"}, {"colour": "red"}, 422, "unknown_option"),
        (b'{"text": "a"}\n', {"content-type": "application/x-ndjson"}, {"format": "xml"}, 422, "validation_error"),
        (b'{"text": "a"}\n', {"content-type": "application/x-ndjson"}, {"dataset": "a/b"}, 422, "validation_error"),
        (b'{"path": 1', {"content-type": "application/json"}, {}, 400, "invalid_json"),
        (b'{"path": "x", "colour": 1}', {"content-type": "application/json"}, {}, 422, "validation_error"),
        (b'{"url": "ftp://h/x.jsonl"}', {"content-type": "application/json"}, {}, 422, "validation_error"),
        (b'{"path": "x", "url": "http://h/"}', {"content-type": "application/json"}, {}, 422, "validation_error"),
    ],
)
async def test_bad_uploads_are_typed_4xx_and_leave_nothing(
    job_client: JobClient,
    body: bytes,
    headers: dict[str, str],
    params: dict[str, str],
    status: int,
    error_type: str | None,
) -> None:
    r = await job_client.http.post("/v1/jobs", content=body, headers=headers, params=params)
    assert r.status_code == status, r.text
    assert r.json()["error_type"] == (error_type or "unsupported_media_type")
    jobs_dir = job_client.settings.jobs_dir
    if jobs_dir.exists():
        assert not [p for p in jobs_dir.iterdir() if p.is_dir()]


async def test_upload_over_the_limit_is_413(tmp_path: Path) -> None:
    client = await JobClient(job_settings(tmp_path, jobs_max_upload_bytes=1000)).start()
    try:
        big = jsonl(records(100))
        r = await client.http.post("/v1/jobs", content=big, headers={"content-type": "application/x-ndjson"})
        assert (r.status_code, r.json()["error_type"]) == (413, "payload_too_large")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit is enforced while streaming
            for i in range(0, len(big), 100):
                yield big[i : i + 100]

        r = await client.http.post("/v1/jobs", content=chunks(), headers={"content-type": "application/x-ndjson"})
        assert (r.status_code, r.json()["error_type"]) == (413, "payload_too_large")
        assert not [p for p in client.settings.jobs_dir.iterdir() if p.is_dir()]
    finally:
        await client.stop()


async def test_unknown_jobs_are_404(job_client: JobClient) -> None:
    for _ in range(2):  # before any job exists (no database yet) and after
        for method, path in [
            ("GET", "/v1/jobs/0123abcd"),
            ("DELETE", "/v1/jobs/0123abcd"),
            ("GET", "/v1/jobs/0123abcd/results"),
            ("GET", "/v1/jobs/0123abcd/report"),
            ("GET", "/v1/jobs/not-a-job!"),
        ]:
            r = await job_client.http.request(method, path)
            assert (r.status_code, r.json()["error_type"]) == (404, "not_found"), (method, path)
        await job_client.submit(jsonl(records(2)))


async def test_cancel_skips_the_chunks_not_run(tmp_path: Path) -> None:
    client = await JobClient(job_settings(tmp_path, jobs_chunk_size=5, jobs_batch_size=5), delay_s=0.15).start()
    try:
        job_id = await client.submit(jsonl(records(60)))
        await client.wait(job_id, ("running",))
        r = await client.http.get(f"/v1/jobs/{job_id}/results")
        assert (r.status_code, r.json()["error_type"]) == (409, "job_not_finished")
        assert r.headers["retry-after"] == "10"
        r = await client.http.delete(f"/v1/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        status = await client.wait(job_id, ("cancelled",))
        assert status["counts"]["pending"] > 0  # chunks not yet run were skipped
        assert (await client.http.delete(f"/v1/jobs/{job_id}")).json()["state"] == "cancelled"  # idempotent
        r = await client.http.get(f"/v1/jobs/{job_id}/report")
        assert (r.status_code, r.json()["error_type"]) == (409, "job_not_finished")
        assert not (client.settings.jobs_dir / job_id).exists()  # nothing of a cancelled job is kept
        store = client.app.state.jobs.peek().store
        for _ in range(100):  # the chunk that was running notices at its next model batch
            states = {c.state for c in store.chunks(job_id)}
            if "running" not in states:
                break
            await asyncio.sleep(0.05)
        assert states <= {"done", "skipped"} and "skipped" in states

        done_id = await client.submit(jsonl(records(3)))
        await client.wait(done_id)
        r = await client.http.delete(f"/v1/jobs/{done_id}")
        assert (r.status_code, r.json()["error_type"]) == (409, "job_finished")
    finally:
        await client.stop()


async def test_status_reports_progress_and_eta(tmp_path: Path) -> None:
    client = await JobClient(job_settings(tmp_path, jobs_chunk_size=4, jobs_batch_size=4), delay_s=0.1).start()
    try:
        job_id = await client.submit(jsonl(records(60)))
        for _ in range(400):
            status = (await client.http.get(f"/v1/jobs/{job_id}")).json()
            if status["state"] == "running" and status["counts"]["done"] >= 8:
                break
            await asyncio.sleep(0.02)
        assert status["state"] == "running", status
        assert status["counts"]["total"] == 60 and 0 < status["progress"] < 1
        assert status["counts"]["pending"] == 60 - status["counts"]["done"]
        assert status["rate_per_s"] > 0 and status["eta_s"] > 0
        final = await client.wait(job_id)
        assert final["eta_s"] is None and final["progress"] == 1.0
    finally:
        await client.stop()


class _Files(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, b""))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://169.254.169.254/latest")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


async def test_path_and_url_sources(tmp_path: Path) -> None:
    imports = tmp_path / "imports"
    imports.mkdir()
    (imports / "night.jsonl").write_bytes(jsonl(records(7)))
    (tmp_path / "secret.jsonl").write_bytes(jsonl(records(1)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    _Files.routes = {"/dumps/a.jsonl.gz": (200, gzip.compress(jsonl(records(5)))), "/dumps/moved": (302, b"")}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = job_settings(tmp_path, jobs_import_dir=imports, jobs_url_prefixes=f"{base}/dumps/")
    client = await JobClient(settings).start()
    try:
        r = await client.http.post("/v1/jobs", json={"path": "night.jsonl", "dataset": "n"})
        assert r.status_code == 202, r.text
        status = await client.wait(r.json()["id"])
        assert (status["state"], status["source"], status["counts"]["done"]) == ("completed", "path", 7)
        assert (imports / "night.jsonl").exists()  # a server-side source is read, never deleted

        for path in ("../secret.jsonl", str(tmp_path / "secret.jsonl")):
            r = await client.http.post("/v1/jobs", json={"path": path})
            assert (r.status_code, r.json()["error_type"]) == (403, "source_not_allowed")
        r = await client.http.post("/v1/jobs", json={"path": "missing.jsonl"})
        assert (r.status_code, r.json()["error_type"]) == (422, "invalid_upload")
        bad_bytes = b'{"path": "night\xff.jsonl"}'  # the JSON request body shares /v1/analyze's checks
        r = await client.http.post("/v1/jobs", content=bad_bytes, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error_type"]) == (400, "invalid_utf8")
        r = await client.http.post("/v1/jobs", json={"path": "night\u0000.jsonl"})  # a NUL: 4xx, not a 500
        assert r.status_code == 422 and r.json()["error_type"] == "validation_error", r.text
        r = await client.http.post("/v1/jobs", json={"url": f"{base}/dumps/a\u0001.jsonl"})  # no worker could fetch it
        assert r.status_code == 422 and r.json()["error_type"] == "validation_error", r.text

        r = await client.http.post("/v1/jobs", json={"url": f"{base}/dumps/a.jsonl.gz"})
        assert r.status_code == 202, r.text
        status = await client.wait(r.json()["id"])
        assert (status["state"], status["counts"]["done"]) == ("completed", 5)
        r = await client.http.post("/v1/jobs", json={"url": f"{base}/elsewhere/a.jsonl"})
        assert (r.status_code, r.json()["error_type"]) == (403, "source_not_allowed")
        r = await client.http.post("/v1/jobs", json={"url": f"{base}/dumps/moved"})
        status = await client.wait(r.json()["id"])
        assert status["state"] == "failed" and "redirects are not followed" in status["error"]
        r = await client.http.post("/v1/jobs", json={"url": f"{base}/dumps/none.jsonl"})
        status = await client.wait(r.json()["id"])
        assert status["state"] == "failed" and "HTTP 404" in status["error"]
    finally:
        await client.stop()
        server.shutdown()

    closed = await JobClient(job_settings(tmp_path / "other")).start()
    try:
        for body in ({"path": "night.jsonl"}, {"url": f"{base}/dumps/a.jsonl.gz"}):
            r = await closed.http.post("/v1/jobs", json=body)
            assert (r.status_code, r.json()["error_type"]) == (403, "source_not_allowed")
    finally:
        await closed.stop()


def _text(label: str, keyword: str, extra: str = "") -> str:
    """A message with ``keyword`` whose fake sentiment is ``label`` (the fake model only sees the length)."""
    analyzer = make_registry().analyzer
    base = keyword + extra
    for pad in range(1, 80):
        text = base + "。" * pad
        if analyzer.analyze_batch([AnalysisInput.prepare(text)])[0].sentiment.label == label:  # type: ignore[union-attr]
            return text
    raise AssertionError(f"no padding gives {label}")


async def test_report_and_alerts_against_the_previous_job(job_client: JobClient) -> None:
    neg_refund, pos_refund = _text("negative", "退款"), _text("positive", "退款")
    neg_delivery, pos_delivery = _text("negative", "快递"), _text("positive", "快递")
    first = (
        [{"text": neg_refund}] * 4
        + [{"text": pos_refund}] * 6
        + [{"text": neg_delivery}] * 4
        + [{"text": pos_delivery}] * 26
    )
    # Next night: refunds rise from 25% to 50% of messages, invoices appear, the negative rate doubles.
    second = (
        [{"text": neg_refund, "channel": "app"}] * 14
        + [{"text": _text("positive", "退款", PHONE), "channel": "<script>alert(1)</script>"}] * 6
        + [{"text": neg_delivery}] * 2
        + [{"text": pos_delivery}] * 8
        + [{"text": _text("negative", "发票", "呵呵投诉iPhone")}] * 10
    )
    job1 = await job_client.submit(jsonl(first), dataset="nightly")
    assert (await job_client.wait(job1))["state"] == "completed"
    job2 = await job_client.submit(jsonl(second), dataset="nightly")
    assert (await job_client.wait(job2))["state"] == "completed"
    other = await job_client.submit(jsonl(second), dataset="other-feed")
    await job_client.wait(other)

    report = (await job_client.http.get(f"/v1/jobs/{job2}/report")).json()
    assert report["counts"] == {"total": 40, "analyzed": 40, "failed": 0}
    assert report["sentiment"]["negative"] == {"count": 26, "share": 0.65} and report["negative_rate"] == 0.65
    assert report["hidden_dissatisfaction"] == {"rate": 0.25, "detected": 10, "evaluated": 40}
    assert report["risk"]["red"]["count"] == 10 and report["handoff"] == 10
    assert [(c["key"], c["count"]) for c in report["categories"]] == [("refund", 20), ("delivery", 10), ("invoice", 10)]
    assert [t["key"] for t in report["topics"]] == ["1", "2", "4"]
    assert report["entities"] == {"PRODUCT": [{"text": "iPhone", "count": 10}]}  # the PII entity is not counted
    assert len(report["categories"][0]["examples"]) == 3
    assert PHONE not in json.dumps(report)

    alerts = {(a["kind"], a["key"]) for a in report["alerts"]}
    assert alerts == {
        ("negative_rate_rise", None),
        ("new_topic", "4"),
        ("category_share_rise", "invoice"),
        ("topic_share_rise", "1"),
        ("category_share_rise", "refund"),
    }
    refund = next(a for a in report["alerts"] if a["key"] == "refund")
    assert (refund["previous_share"], refund["current_share"], refund["relative_change"]) == (0.25, 0.5, 1.0)
    comparison = report["comparison"]
    assert comparison["previous_job_id"] == job1 and comparison["threshold"] == 0.2
    assert comparison["negative_rate_previous"] == 0.2 and comparison["negative_rate_change"] == 0.45

    html = (await job_client.http.get(f"/v1/jobs/{job2}/report", params={"format": "html"})).text
    assert html.startswith("<!doctype html>") and "<script" not in html and "&lt;script&gt;" in html
    assert "refund" in html and "rose from 25.0% to 50.0%" in html and PHONE not in html
    assert (await job_client.http.get(f"/v1/jobs/{other}/report")).json()["comparison"] is None
    listed = (await job_client.http.get("/v1/jobs", params={"dataset": "nightly"})).json()
    assert [(j["id"], j["counts"]["done"]) for j in listed] == [(job2, 40), (job1, 40)]


async def test_no_raw_personal_data_in_job_files_database_or_logs(
    job_client: JobClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = [f"退款找我，电话{PHONE}，邮箱{EMAIL}，第{i}次" for i in range(25)]
    job_id = await job_client.submit(jsonl([{"id": str(i), "text": t} for i, t in enumerate(texts)]), dataset="pii")
    assert (await job_client.wait(job_id))["state"] == "completed"
    report = (await job_client.http.get(f"/v1/jobs/{job_id}/report")).json()
    assert "[PHONE]" in report["categories"][0]["examples"][0]["text"]
    assert "[EMAIL]" in report["categories"][0]["examples"][0]["text"]
    scanned = 0
    for path in job_client.settings.jobs_dir.rglob("*"):  # the database (and its WAL) and the job files
        if path.is_file():
            data = path.read_bytes()
            scanned += 1
            assert PHONE.encode() not in data and EMAIL.encode() not in data, path
            if not path.name.startswith("tousu.db"):  # the report keeps masked examples; the files keep no text
                assert "退款找我".encode() not in data, path
    assert scanned >= 2
    for record in caplog.records:
        assert PHONE not in record.getMessage() and "退款找我" not in record.getMessage()


async def test_graceful_restart_hands_the_running_chunk_back(tmp_path: Path) -> None:
    settings = job_settings(tmp_path, jobs_chunk_size=6, jobs_batch_size=3)
    client = await JobClient(settings, delay_s=0.1).start()
    job_id = await client.submit(jsonl(records(30)))
    await client.wait(job_id, ("running",))
    store = client.app.state.jobs.peek().store
    while not any(c.state == "done" for c in store.chunks(job_id)):
        await asyncio.sleep(0.02)
    await client.stop()  # the lifespan ends in the middle of the job
    store = JobStore.open(None, settings.jobs_dir)
    job = store.get_job(job_id)
    assert job is not None and job.state == "running"
    assert {c.state for c in store.chunks(job_id)} == {"done", "queued"}  # the running chunk was handed back
    store.close()

    again = await JobClient(settings).start()  # same directory and database: it resumes on start-up
    try:
        status = await again.wait(job_id)
        assert status["state"] == "completed" and status["counts"]["done"] == 30
        out = await again.results(job_id)
        assert [o["id"] for o in out] == [f"r{i}" for i in range(30)]
    finally:
        await again.stop()


async def test_openapi_documents_the_jobs_api(job_client: JobClient) -> None:
    spec = (await job_client.http.get("/openapi.json")).json()
    create = spec["paths"]["/v1/jobs"]["post"]
    assert {"application/x-ndjson", "text/csv", "application/gzip", "application/json"} <= set(
        create["requestBody"]["content"]
    )
    assert {"dataset", "format"} <= {p["name"] for p in create["parameters"]}
    assert "JobStatus" in spec["components"]["schemas"] and "JobReport" in spec["components"]["schemas"]
    assert "text/csv" in spec["paths"]["/v1/jobs/{job_id}/results"]["get"]["responses"]["200"]["content"]
    assert "delete" in spec["paths"]["/v1/jobs/{job_id}"]


async def test_a_database_outage_makes_jobs_503_and_leaves_analyze_alone(tmp_path: Path) -> None:
    down = "postgresql+psycopg://postgres@127.0.0.1:1/none"  # nothing listens on port 1
    client = await JobClient(job_settings(tmp_path, database_url=down)).start()  # starts despite the outage
    try:
        assert (await client.http.post("/v1/analyze", json={"text": "快递没到"})).status_code == 200
        r = await client.http.get("/v1/jobs/0123abcd")
        assert (r.status_code, r.json()["error_type"]) == (503, "not_ready") and r.headers["retry-after"] == "10"
        r = await client.http.post("/v1/jobs", content=jsonl(records(2)), headers={"content-type": "text/csv"})
        assert (r.status_code, r.json()["error_type"]) == (503, "not_ready")
    finally:
        await client.stop()
