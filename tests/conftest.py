"""Shared fixtures: the real registry (model tests), the fake-model app (plumbing), Redis."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from models.fake import FakeEncoder, fake_sentiment
from models.pipeline import Analyzer
from models.registry import Registry, load_registry
from models.settings import ModelSettings
from models.spec import ModelSpec
from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("TOUSU_ARTIFACTS_DIR", ROOT / "artifacts")).resolve()
REDIS_URL = os.environ.get("TOUSU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

pytest_plugins = ("tests.jobs_support", "tests.store_support")  # job fixtures; store fixtures (store, store_database)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    if not (ARTIFACTS / "e5-small" / "manifest.json").exists():
        pytest.fail(f"no encoder artifact in {ARTIFACTS}: run `make build` (tests need the real model)")
    return ARTIFACTS


@pytest.fixture(scope="session")
def registry(artifacts: Path) -> Registry:
    return load_registry(ModelSettings(artifacts_dir=artifacts, ort_threads=2))


def fake_registry(encoder: FakeEncoder | None = None) -> Registry:
    encoder = encoder or FakeEncoder()
    spec = ModelSpec("encoder/fake-encoder", "encoder", "-", "fake-1", "0" * 64, {})
    return Registry(Analyzer(encoder, fake_sentiment(encoder.hidden_size)), (spec,))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(artifacts_dir=tmp_path, redis_url=None, batch_max_wait_ms=20, jobs_dir=tmp_path / "jobs")


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # fail loudly: the CI machine runs Redis
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


async def start_client(settings: Settings, encoder: FakeEncoder | None = None) -> tuple[httpx.AsyncClient, object]:
    app = create_app(settings, registry_loader=lambda _: fake_registry(encoder))
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    return client, ctx


@pytest.fixture
async def fake_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    client, ctx = await start_client(settings)
    yield client
    await client.aclose()
    await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]
