"""Fixtures and helpers of the batch-job tests (loaded as a pytest plugin by tests/conftest.py).

``fake_registry_loader`` is what ``tousu worker --registry-loader tests.jobs_support:fake_registry_loader``
loads in the subprocess tests: the deterministic fake encoder (slowed down by
``TOUSU_TEST_FAKE_DELAY_S`` per model call, so that a chunk takes long enough to be killed in the
middle) plus :class:`KeywordStage`, a fake of the later stages that fills every block from
keywords, so that report and alert plumbing can be checked without the real models.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from models.fake import FakeEncoder, fake_sentiment
from models.pipeline import Analyzer, Context
from models.registry import Registry
from models.schema import Category, Entity, HiddenDissatisfaction, Risk, Topic
from models.spec import ModelSpec
from service.app import create_app
from service.jobs.db import JobRow
from service.jobs.service import new_job_id
from service.jobs.store import JobStore
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("TOUSU_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "tousu_test_jobs"
TERMINAL = ("completed", "failed", "cancelled")

# keyword -> (category, topic id, topic label)
RULES = {
    "退款": ("refund", 1, "退款进度"),
    "快递": ("delivery", 2, "快递延误"),
    "屏幕": ("screen", 3, "屏幕问题"),
    "发票": ("invoice", 4, "发票开具"),
}


class KeywordStage:
    """Fills hidden_dissatisfaction, entities, topic, category and risk from keywords (plumbing only)."""

    name = "keywords"
    version = "kw-1"

    def run(self, batch: list[Context]) -> None:
        for ctx in batch:
            text = ctx.item.normalized.text
            rule = next((r for k, r in RULES.items() if k in text), None)
            if rule is not None:
                ctx.fields["category"] = Category(name=rule[0], score=0.5 + (len(text) % 10) / 20)
                ctx.fields["topic"] = Topic(id=rule[1], label=rule[2], keywords=[rule[2]], probability=0.9)
            else:
                ctx.fields["topic"] = Topic(id=-1, label="outlier", keywords=[], probability=0.1)
            ctx.fields["hidden_dissatisfaction"] = HiddenDissatisfaction(detected="呵呵" in text, score=0.5, cues=[])
            red = "投诉" in text
            ctx.fields["risk"] = Risk(
                level="red" if red else "blue", score=0.9 if red else 0.1, reasons=[], handoff=red
            )
            entities = []
            if "iphone" in text.lower():
                start = text.lower().index("iphone")
                entities.append(
                    Entity(type="PRODUCT", text="iPhone", start=start, end=start + 6, confidence=0.9, pii=False)
                )
            digits = [i for i in range(len(text) - 10) if text[i : i + 11].isdigit()]
            if digits:  # like the real entity stage, PII values only when the caller asks for them
                i = digits[0]
                value = text[i : i + 11] if ctx.item.options.get("include_pii") else "[PHONE]"
                entities.append(Entity(type="PHONE", text=value, start=i, end=i + 11, confidence=1.0, pii=True))
            ctx.fields["entities"] = entities


def make_registry(delay_s: float = 0.0, stages: bool = True) -> Registry:
    encoder = FakeEncoder(delay_s=delay_s)
    spec = ModelSpec("encoder/fake-encoder", "encoder", "-", "fake-1", "0" * 64, {})
    analyzer = Analyzer(encoder, fake_sentiment(encoder.hidden_size), (KeywordStage(),) if stages else ())
    return Registry(analyzer, (spec,))


def fake_registry_loader(_: Settings) -> Registry:
    return make_registry(float(os.environ.get("TOUSU_TEST_FAKE_DELAY_S", "0")))


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def job_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "artifacts_dir": tmp_path,
        "jobs_dir": tmp_path / "jobs",
        "redis_url": None,
        "batch_max_wait_ms": 5,
        "jobs_chunk_size": 10,
        "jobs_batch_size": 4,
        "jobs_reaper_interval_s": 0.3,
        "jobs_lease_s": 2.0,
        "alert_min_count": 3,
    }
    values.update(overrides)
    return Settings(**values)


class JobClient:
    """An app with the fake registry, run through its real lifespan, and an HTTP client on it."""

    def __init__(self, settings: Settings, delay_s: float = 0.0) -> None:
        self.settings = settings
        self.app = create_app(settings, registry_loader=lambda _: make_registry(delay_s))
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")
        self._ctx: Any = None

    async def start(self) -> JobClient:
        self._ctx = self.app.router.lifespan_context(self.app)
        await self._ctx.__aenter__()
        return self

    async def stop(self) -> None:
        await self.http.aclose()
        if self._ctx is not None:
            await self._ctx.__aexit__(None, None, None)
            self._ctx = None

    async def submit(self, body: bytes, content_type: str = "application/x-ndjson", **params: str) -> str:
        r = await self.http.post("/v1/jobs", content=body, params=params, headers={"content-type": content_type})
        assert r.status_code == 202, r.text
        job_id: str = r.json()["id"]
        return job_id

    async def wait(self, job_id: str, states: tuple[str, ...] = TERMINAL, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status: dict[str, Any] = (await self.http.get(f"/v1/jobs/{job_id}")).json()
            if status["state"] in states:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"job still {status['state']} after {timeout}s: {status}")
            await asyncio.sleep(0.05)

    async def results(self, job_id: str) -> list[dict[str, Any]]:
        r = await self.http.get(f"/v1/jobs/{job_id}/results")
        assert r.status_code == 200, r.text
        return [json.loads(line) for line in r.text.splitlines()]


@pytest.fixture
async def job_client(tmp_path: Path) -> AsyncIterator[JobClient]:
    client = await JobClient(job_settings(tmp_path)).start()
    yield client
    await client.stop()


@contextlib.contextmanager
def fresh_pg_database(name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database ``name`` (SQLAlchemy URL), dropped afterwards; fails loudly if
    PostgreSQL is down (CI runs it)."""
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    admin = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{admin}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database per test (the jobs tests')."""
    with fresh_pg_database(PG_DB) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None (the SQLite default in the jobs dir) or a PostgreSQL URL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


# -- subprocesses ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """Starts ``tousu`` subprocesses with a shared environment and kills them all at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = {**os.environ, **env}
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start("worker", "--registry-loader", "tests.jobs_support:fake_registry_loader", name=name)

    def api(self, port: int, name: str) -> subprocess.Popen[bytes]:
        proc = self.start(
            "serve", "--port", str(port), "--registry-loader", "tests.jobs_support:fake_registry_loader", name=name
        )
        wait_until(lambda: _healthy(port), timeout=60, what=f"API on port {port}", proc=proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """The app with the fake model and keyword stages served over real HTTP (uvicorn in a thread): its base URL."""
    import uvicorn

    from service.app import create_app

    app = create_app(settings, registry_loader=lambda _: make_registry())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(port), 60, "the API")
        yield base
    finally:
        server.should_exit = True
        thread.join(15)


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def queued_job(store: JobStore, dataset: str | None = None, created_at: float | None = None) -> str:
    """A queued upload job row (no input written yet)."""
    job_id = new_job_id()
    store.create_job(
        JobRow(
            id=job_id,
            dataset=dataset,
            state="queued",
            source_kind="upload",
            source=None,
            input_format="jsonl",
            options={},
            chunk_size=10,
            created_at=time.time() if created_at is None else created_at,
        )
    )
    return job_id
