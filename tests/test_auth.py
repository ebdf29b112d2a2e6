"""API keys and tenants (service/auth.py): 401s, closed docs and metrics, jobs scoped per tenant, the exposure
check, `tousu keys`, and the job table's upgrade for tenants and personal-data retention."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import inspect, text

from service import cli
from service.app import create_app
from service.auth import ConfigError, KeyRing, check_exposure, hash_line, key_hash, parse_keys
from service.jobs.db import JobRow, create_schema, make_engine
from service.jobs.files import JobFiles
from service.jobs.queue import LocalQueue
from service.jobs.reaper import Reaper
from service.jobs.service import new_job_id
from service.jobs.store import JobStore
from service.settings import Settings
from tests.jobs_support import JobClient, job_settings, jsonl, make_registry

ACME_KEY = "acme-0123456789abcdef0123456789"
GLOBEX_KEY = "globex-0123456789abcdef012345678"
KEYS = f"acme:{ACME_KEY},globex:{GLOBEX_KEY}"
PHONE = "13812345678"


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
async def keyed(tmp_path: Path) -> AsyncIterator[JobClient]:
    client = await JobClient(job_settings(tmp_path, api_keys=KEYS, rate_limit_rps=0)).start()
    client.http.headers.update(bearer(ACME_KEY))
    yield client
    await client.stop()


def other_tenant(client: JobClient, key: str = GLOBEX_KEY) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app), base_url="http://test", headers=bearer(key))


# -- keys ------------------------------------------------------------------------------------------------


def test_keys_parse_from_both_forms_and_errors_never_show_the_key() -> None:
    hashed = hash_line("globex", GLOBEX_KEY)
    assert parse_keys(f"acme:{ACME_KEY}, {hashed}\n# comment", "X") == [
        ("acme", key_hash(ACME_KEY)),
        ("globex", key_hash(GLOBEX_KEY)),
    ]
    with pytest.raises(ValueError, match="shorter than") as short:
        parse_keys("acme:short-secret", "TOUSU_API_KEYS")
    assert "short-secret" not in str(short.value)
    with pytest.raises(ValueError, match="entry 2") as bad:
        parse_keys(f"acme:{ACME_KEY},{GLOBEX_KEY}", "TOUSU_API_KEYS")  # no tenant
    assert GLOBEX_KEY not in str(bad.value)
    with pytest.raises(ValidationError):
        Settings(api_keys="bad tenant:" + ACME_KEY)
    with pytest.raises(ValidationError, match="TOUSU_AUTH=off"):
        Settings(api_keys=KEYS, auth="off")


def test_key_lookup_compares_every_hash_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing.from_settings(Settings(api_keys=KEYS))
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    assert ring.tenant(ACME_KEY) == "acme"  # the first entry: the second is still compared
    assert ring.tenant(GLOBEX_KEY) == "globex"
    assert ring.tenant("nope-0123456789abcdef0123456789") is None
    assert len(calls) == 6  # 2 entries x 3 lookups: no early exit on a match
    assert all(len(a) == len(b) == 32 for a, b in calls)  # digests, never the key itself
    assert hashlib.sha256(ACME_KEY.encode()).digest() in {a for a, _ in calls}


def test_key_file_holds_hashes_from_tousu_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keys", "initech"]) == 0
    captured = capsys.readouterr()
    line = captured.out.strip()
    key = captured.err.rsplit(": ", 1)[1].strip()
    assert line.startswith("initech:sha256:") and key not in line and len(key) >= 40
    path = tmp_path / "keys.txt"
    path.write_text(line + "\n")
    ring = KeyRing.from_settings(Settings(api_keys_file=path))
    assert ring.tenant(key) == "initech" and ring.tenant(line) is None
    assert cli.main(["keys", "bad tenant"]) == 2
    with pytest.raises(ConfigError, match="cannot be read"):
        KeyRing.from_settings(Settings(api_keys_file=tmp_path / "missing.txt"))


# -- 401 and the gates -------------------------------------------------------------------------------------


async def test_every_v1_route_needs_a_key(keyed: JobClient, caplog: pytest.LogCaptureFixture) -> None:
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=keyed.app), base_url="http://test")
    wrong = "wrong-0123456789abcdef0123456789"
    calls: list[tuple[str, str, dict[str, str]]] = [
        ("GET", "/v1/models", {}),
        ("GET", "/v1/jobs", {}),
        ("GET", "/v1/jobs/0123abcd", {}),
        ("DELETE", "/v1/jobs/0123abcd", {}),
        ("POST", "/v1/analyze", {}),
        ("GET", "/v1/complaints", {}),
        ("GET", "/v1/stats", {}),
        ("GET", "/v1/alerts", {}),
        ("GET", "/v1/no-such-route", {}),  # 401, not a 404 that tells which routes exist
        ("GET", "/v1/models", bearer(wrong)),
        ("GET", "/v1/models", {"authorization": f"Basic {ACME_KEY}"}),
        ("GET", "/v1/models", {"authorization": "Bearer "}),
    ]
    with caplog.at_level(logging.DEBUG):
        for method, path, headers in calls:
            r = await anonymous.request(method, path, headers=headers, json={"text": "好"})
            assert r.status_code == 401, (method, path, r.text)
            assert r.json() == {"error": r.json()["error"], "error_type": "unauthorized"}
            assert r.headers["www-authenticate"].startswith("Bearer")
    assert wrong not in caplog.text and ACME_KEY not in caplog.text
    ok = await keyed.http.get("/v1/models")
    assert ok.status_code == 200
    assert (await keyed.http.post("/v1/analyze", json={"text": "退款还没到账"})).status_code == 200
    assert (await anonymous.get("/health")).status_code == 200  # load balancers need no key
    assert (await anonymous.get("/metrics")).status_code == 200  # open unless closed (below)
    await anonymous.aclose()


@pytest.mark.parametrize(("gate", "without", "with_key"), [("key", 401, 200), ("off", 404, 404), ("open", 200, 200)])
async def test_metrics_and_docs_can_be_closed(tmp_path: Path, gate: str, without: int, with_key: int) -> None:
    settings = job_settings(tmp_path, api_keys=KEYS, expose_metrics=gate, expose_docs=gate)
    client = await JobClient(settings).start()
    try:
        for path in ("/metrics", "/docs", "/redoc", "/openapi.json", "/dashboard"):
            r = await client.http.get(path)
            assert r.status_code == without, (path, r.status_code)
            if without != 200:
                assert r.json()["error_type"] == ("unauthorized" if without == 401 else "not_found")
            assert (await client.http.get(path, headers=bearer(ACME_KEY))).status_code == with_key, path
    finally:
        await client.stop()


async def test_the_spec_declares_the_bearer_scheme_with_keys(keyed: JobClient) -> None:
    spec = (await keyed.http.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for path, item in spec["paths"].items():
        for op in item.values():
            if path.startswith("/v1/"):
                assert op["security"] == [{"ApiKey": []}], path
                assert "`unauthorized`" in op["responses"]["401"]["description"]
                assert "WWW-Authenticate" in op["responses"]["401"]["headers"]
                assert "`rate_limited`" in op["responses"]["429"]["description"]
            else:
                assert "security" not in op, path


async def test_without_keys_the_spec_declares_no_scheme(fake_client: httpx.AsyncClient) -> None:
    spec = (await fake_client.get("/openapi.json")).json()
    assert "securitySchemes" not in spec.get("components", {})
    assert (await fake_client.get("/v1/models")).status_code == 200  # local use: no key needed


# -- tenants -------------------------------------------------------------------------------------------------


async def test_a_tenant_sees_reads_downloads_and_cancels_only_its_own_jobs(keyed: JobClient) -> None:
    records = [{"id": f"r{i}", "text": f"退款还没到账，电话{PHONE}"} for i in range(12)]
    done = await keyed.submit(jsonl(records), dataset="shop", include_pii="true")
    assert (await keyed.wait(done))["state"] == "completed"
    globex = other_tenant(keyed)
    try:
        mine = [j["id"] for j in (await keyed.http.get("/v1/jobs")).json()]
        assert mine == [done]
        assert (await globex.get("/v1/jobs")).json() == []
        assert (await globex.get("/v1/jobs", params={"dataset": "shop"})).json() == []
        for path in (f"/v1/jobs/{done}", f"/v1/jobs/{done}/results", f"/v1/jobs/{done}/report"):
            r = await globex.get(path)
            assert r.status_code == 404 and r.json()["error_type"] == "not_found", path
            assert PHONE not in r.text
        cancelled = await globex.delete(f"/v1/jobs/{done}")
        assert cancelled.status_code == 404
        results = await keyed.http.get(f"/v1/jobs/{done}/results")
        assert results.status_code == 200 and PHONE in results.text  # include_pii: its tenant reads it
        # A job of globex's, still queued, that acme cannot cancel but globex can.
        store = keyed.app.state.jobs.service().store
        queued = new_job_id()
        store.create_job(job_row(queued, "globex", {}))
        assert (await keyed.http.delete(f"/v1/jobs/{queued}")).status_code == 404
        assert store.get_job(queued).state == "queued"
        r = await globex.delete(f"/v1/jobs/{queued}")
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        assert store.get_job(done).tenant == "acme" and store.get_job(done).pii is True
    finally:
        await globex.aclose()


def job_row(job_id: str, tenant: str | None, options: dict[str, Any], finished_at: float | None = None) -> JobRow:
    return JobRow(
        id=job_id,
        tenant=tenant,
        pii=bool(options.get("include_pii")),
        dataset=None,
        state="completed" if finished_at else "queued",
        source_kind="upload",
        source=None,
        input_format="jsonl",
        options=options,
        chunk_size=10,
        created_at=(finished_at or time.time()) - 1,
        finished_at=finished_at,
    )


async def test_jobs_made_before_keys_belong_to_no_tenant(tmp_path: Path) -> None:
    open_client = await JobClient(job_settings(tmp_path)).start()
    try:
        old = await open_client.submit(jsonl([{"text": "快递三天没动"}]))
        await open_client.wait(old)
    finally:
        await open_client.stop()
    client = await JobClient(job_settings(tmp_path, api_keys=KEYS)).start()
    try:
        r = await client.http.get(f"/v1/jobs/{old}", headers=bearer(ACME_KEY))
        assert r.status_code == 404
        assert (await client.http.get("/v1/jobs", headers=bearer(ACME_KEY))).json() == []
    finally:
        await client.stop()


async def test_job_files_are_private(keyed: JobClient) -> None:
    job = await keyed.submit(jsonl([{"text": f"退款还没到账 {i}"} for i in range(25)]))
    assert (await keyed.wait(job))["state"] == "completed"
    root = keyed.settings.jobs_dir
    paths = [p for p in root.rglob("*")]
    assert any(p.is_file() and p.name.endswith(".out.jsonl") for p in paths)
    for path in [root, *paths]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


# -- personal data expires sooner ------------------------------------------------------------------------------


def test_results_of_include_pii_jobs_expire_sooner(tmp_path: Path) -> None:
    settings = job_settings(tmp_path, jobs_result_ttl_s=7 * 86400, jobs_pii_result_ttl_s=3600)
    store = JobStore.open(None, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    now = time.time()
    ids = {name: new_job_id() for name in ("pii_old", "pii_new", "plain_old", "plain_ancient")}
    store.create_job(job_row(ids["pii_old"], "acme", {"include_pii": True}, now - 2 * 3600))
    store.create_job(job_row(ids["pii_new"], "acme", {"include_pii": True}, now - 600))
    store.create_job(job_row(ids["plain_old"], "acme", {}, now - 2 * 3600))
    store.create_job(job_row(ids["plain_ancient"], "acme", {}, now - 8 * 86400))
    for job_id in ids.values():
        files.chunks_dir(job_id).mkdir(parents=True)
    queue = LocalQueue(1)
    try:
        result = Reaper(store, files, queue, lambda _: False, settings).run_once()
    finally:
        queue.close()
    assert sorted(result.purged) == sorted([ids["pii_old"], ids["plain_ancient"]])
    assert not files.job_dir(ids["pii_old"]).exists() and files.job_dir(ids["plain_old"]).exists()
    assert store.get_job(ids["pii_old"]).purged_at is not None and store.get_job(ids["pii_new"]).purged_at is None
    store.close()


def test_an_older_job_table_gains_the_tenant_and_pii_columns(database: str | None, tmp_path: Path) -> None:
    jobs_dir = tmp_path / "jobs"
    jobs_dir.mkdir()
    url = database or f"sqlite:///{jobs_dir / 'tousu.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with engine.begin() as conn:  # the table as the previous release made it
        conn.execute(text("DROP INDEX ix_tousu_jobs_tenant"))
        conn.execute(text("ALTER TABLE tousu_jobs DROP COLUMN tenant"))
        conn.execute(text("ALTER TABLE tousu_jobs DROP COLUMN pii"))
        for job_id, options in (("a" * 32, {"include_pii": True}), ("b" * 32, {"redact": True})):
            conn.execute(
                text(
                    "INSERT INTO tousu_jobs (id, state, source_kind, options, chunk_size, created_at) "
                    "VALUES (:id, 'completed', 'upload', :options, 10, 1.0)"
                ),
                {"id": job_id, "options": json.dumps(options)},
            )
    engine.dispose()
    store = JobStore.open(database, jobs_dir)
    try:
        columns = {c["name"] for c in inspect(store.engine).get_columns("tousu_jobs")}
        assert {"tenant", "pii"} <= columns
        assert store.get_job("a" * 32).pii is True and not store.get_job("b" * 32).pii
        assert store.get_job("a" * 32).tenant is None
        assert store.list_jobs(None, 10, "acme") == [] and len(store.list_jobs(None, 10)) == 2
        create_schema(store.engine)  # idempotent
    finally:
        store.close()


# -- refusing to start exposed without keys ----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "tousu.example.com"])
def test_no_keys_on_a_non_loopback_host_is_refused(tmp_path: Path, host: str) -> None:
    settings = job_settings(tmp_path, host=host)
    with pytest.raises(ConfigError, match="TOUSU_API_KEYS"):
        create_app(settings, registry_loader=lambda _: make_registry())
    create_app(job_settings(tmp_path, host=host, api_keys=KEYS), registry_loader=lambda _: make_registry())
    create_app(job_settings(tmp_path, host=host, auth="off"), registry_loader=lambda _: make_registry())
    for local in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_exposure(job_settings(tmp_path, host=local), KeyRing(()))


def test_tousu_serve_refuses_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(kw))
    monkeypatch.setenv("TOUSU_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("TOUSU_API_KEYS", raising=False)
    loader = "tests.jobs_support:fake_registry_loader"
    assert cli.main(["serve", "--host", "0.0.0.0", "--registry-loader", loader]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve '0.0.0.0' without API keys" in err and "TOUSU_AUTH=off" in err
    assert served == []
    monkeypatch.setenv("TOUSU_AUTH", "off")
    assert cli.main(["serve", "--host", "0.0.0.0", "--registry-loader", loader]) == 0
    assert served == [{"host": "0.0.0.0", "port": 8000, "log_level": "info"}]


def test_settings_of_the_environment_are_not_secrets_in_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "TOUSU_API_KEYS", KEYS)
    settings = Settings(jobs_dir=tmp_path / "jobs")
    assert ACME_KEY not in repr(settings) and ACME_KEY not in str(settings.model_dump())
    with caplog.at_level(logging.DEBUG):
        create_app(settings, registry_loader=lambda _: make_registry())
    assert "2 tenant(s)" in caplog.text and ACME_KEY not in caplog.text


# -- the complaint store: one organisation's, for the tenants of TOUSU_STORE_TENANTS ---------------------------


async def test_only_store_tenants_feed_and_read_the_complaint_store(tmp_path: Path) -> None:
    client = await JobClient(job_settings(tmp_path, api_keys=KEYS, store_tenants="acme", rate_limit_rps=0)).start()
    client.http.headers.update(bearer(ACME_KEY))
    globex = other_tenant(client)
    try:
        for path in ("/v1/complaints", "/v1/stats", "/v1/alerts", "/v1/complaints/shop/m1"):
            r = await globex.get(path)
            assert r.status_code == 403 and r.json()["error_type"] == "forbidden", path
        patched = await globex.patch("/v1/complaints/shop/m1", json={"status": "resolved"})
        assert patched.status_code == 403
        stored = await globex.post("/v1/analyze", json={"text": "退款还没到账", "dataset": "shop", "id": "m1"})
        assert stored.status_code == 403
        assert (await globex.post("/v1/analyze", json={"text": "退款还没到账"})).status_code == 200  # no dataset
        theirs = await globex.post(
            "/v1/jobs", content=jsonl([{"id": "m1", "text": "快递三天没动"}]), params={"dataset": "shop"}
        )
        mine = await client.submit(jsonl([{"id": "m2", "text": "屏幕有坏点"}]), dataset="shop")
        await client.wait(mine)
        for _ in range(600):  # globex's job, seen through globex's key
            if (await globex.get(f"/v1/jobs/{theirs.json()['id']}")).json()["state"] == "completed":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("globex's job did not complete")
        items = (await client.http.get("/v1/complaints", params={"dataset": "shop"})).json()["items"]
        assert [i["id"] for i in items] == ["m2"]  # globex's job never reached the shared store
    finally:
        await globex.aclose()
        await client.stop()


def test_tousu_analyze_server_sends_the_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str | None] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(401, json={"error": "unknown API key", "error_type": "unauthorized"})

    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(refuse), **kw))
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl([{"text": "退款还没到账"}]))
    monkeypatch.setenv("TOUSU_API_KEY", ACME_KEY)
    args = ["analyze", "--server", "http://tousu", "--input", str(src), "--output", str(tmp_path / "o.jsonl")]
    assert cli.main(args) == 2
    assert seen == [f"Bearer {ACME_KEY}"]
    err = capsys.readouterr().err
    assert "unknown API key (unauthorized)" in err and ACME_KEY not in err


async def test_refusals_are_counted_in_the_metrics(keyed: JobClient) -> None:
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=keyed.app), base_url="http://test")
    for _ in range(3):
        r = await anonymous.get("/v1/models")
        assert r.status_code == 401 and "x-compute-time-ms" in r.headers  # inside the timing middleware
    await anonymous.aclose()
    metrics = (await keyed.http.get("/metrics")).text
    assert 'status="401"} 3.0' in metrics


async def test_every_v1_operation_of_the_spec_refuses_a_request_without_a_key(keyed: JobClient) -> None:
    """Walks the served spec, so a route added later is covered without editing this test."""
    spec = (await keyed.http.get("/openapi.json")).json()
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=keyed.app), base_url="http://test")
    checked = 0
    try:
        for path, item in spec["paths"].items():
            if not path.startswith("/v1/"):
                continue
            url = path.replace("{job_id}", "0123abcd").replace("{dataset}", "shop").replace("{message_id}", "m1")
            for method in item:
                r = await anonymous.request(method.upper(), url, json={"text": "好"})
                assert r.status_code == 401 and r.json()["error_type"] == "unauthorized", (method, path)
                checked += 1
    finally:
        await anonymous.aclose()
    assert checked >= 14
