"""Per-tenant limits (service/ratelimit.py): token buckets in this process and in the real Redis (database 15,
flushed around each test), and the 429s they answer through the API."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from service.errors import ApiError
from service.jobs.service import new_job_id
from service.jobs.store import JobStore
from service.ratelimit import MemoryBuckets, RedisBuckets
from tests.conftest import REDIS_URL
from tests.jobs_support import JobClient, job_settings, jsonl
from tests.test_auth import ACME_KEY, KEYS, bearer, job_row, other_tenant


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    buckets = MemoryBuckets(clock)
    assert [await buckets.take("a", 2.0, 3.0, 1.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await buckets.take("a", 2.0, 3.0, 1.0) == pytest.approx(0.5)  # empty: one token in 1/rate s
    assert await buckets.take("b", 2.0, 3.0, 1.0) == 0.0  # another key has its own bucket
    clock.now += 0.5
    assert await buckets.take("a", 2.0, 3.0, 1.0) == 0.0
    assert await buckets.take("a", 2.0, 3.0, 2.0) == pytest.approx(1.0)  # refused whole: nothing taken
    clock.now += 100
    assert await buckets.take("a", 2.0, 3.0, 3.0) == 0.0  # refilled to the burst, not beyond
    assert await buckets.take("a", 2.0, 3.0, 1.0) > 0


@pytest.mark.redis
async def test_redis_bucket_is_shared_by_processes_and_expires(redis_client: redis.Redis) -> None:
    first, second = RedisBuckets(REDIS_URL), RedisBuckets(REDIS_URL)  # two API processes
    try:
        assert await first.take("acme:rps", 1.0, 3.0, 1.0) == 0.0
        assert await second.take("acme:rps", 1.0, 3.0, 1.0) == 0.0
        assert await first.take("acme:rps", 1.0, 3.0, 1.0) == 0.0
        wait = await second.take("acme:rps", 1.0, 3.0, 1.0)
        assert 0.5 < wait <= 1.0
        assert await first.take("globex:rps", 1.0, 3.0, 1.0) == 0.0
        await asyncio.sleep(wait + 0.05)
        assert await second.take("acme:rps", 1.0, 3.0, 1.0) == 0.0  # refilled on Redis' clock
        assert 0 < redis_client.pttl("tousu:ratelimit:acme:rps") <= 4000  # gone once it would be full again
        assert set(redis_client.hkeys("tousu:ratelimit:acme:rps")) == {b"tokens", b"at"}
    finally:
        await first.close()
        await second.close()


async def test_a_redis_outage_lets_requests_through_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    buckets = RedisBuckets("redis://127.0.0.1:1/15", timeout_s=0.05, retry_after_s=30.0)
    with caplog.at_level(logging.WARNING, logger="service.ratelimit"):
        assert await buckets.take("acme:rps", 1.0, 1.0, 1.0) == 0.0
        started = time.perf_counter()
        assert await buckets.take("acme:rps", 1.0, 1.0, 1.0) == 0.0  # breaker open: no new attempt
        assert time.perf_counter() - started < 0.01
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    await buckets.close()


# -- through the API ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_requests_per_second_per_tenant(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    redis_url = None
    if backend == "redis":
        request.getfixturevalue("redis_client")
        redis_url = REDIS_URL
    settings = job_settings(tmp_path, api_keys=KEYS, rate_limit_rps=1.0, rate_limit_burst=3, redis_url=redis_url)
    client = await JobClient(settings).start()
    globex = other_tenant(client)
    try:
        codes = [(await client.http.get("/v1/models", headers=bearer(ACME_KEY))).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        limited = await client.http.get("/v1/models", headers=bearer(ACME_KEY))
        assert limited.status_code == 429
        assert limited.json() == {
            "error": limited.json()["error"],
            "error_type": "rate_limited",
            "limit": "requests_per_second",
        }
        assert limited.headers["retry-after"] == "1"
        assert (await globex.get("/v1/models")).status_code == 200  # another tenant's bucket
        assert (await client.http.get("/health")).status_code == 200  # not a /v1 route: never limited
        await asyncio.sleep(1.05)
        assert (await client.http.get("/v1/models", headers=bearer(ACME_KEY))).status_code == 200
    finally:
        await globex.aclose()
        await client.stop()


async def test_messages_per_minute_per_tenant(tmp_path: Path) -> None:
    settings = job_settings(
        tmp_path, api_keys=KEYS, rate_limit_rps=0, rate_limit_messages_per_minute=300, max_batch_items=256
    )
    client = await JobClient(settings).start()
    client.http.headers.update(bearer(ACME_KEY))
    try:
        items = [{"text": f"退款还没到账 {i}"} for i in range(200)]
        assert (await client.http.post("/v1/analyze/batch", json={"items": items})).status_code == 200
        over = await client.http.post("/v1/analyze/batch", json={"items": items})
        assert over.status_code == 429 and over.json()["limit"] == "messages_per_minute"
        assert 20 <= int(over.headers["retry-after"]) <= 21  # 100 tokens missing at 5 per second
        assert "200 in this request" in over.json()["error"]
        assert (await client.http.post("/v1/analyze", json={"text": "快递三天没动"})).status_code == 200
        globex = other_tenant(client)
        assert (await globex.post("/v1/analyze/batch", json={"items": items})).status_code == 200
        await globex.aclose()
    finally:
        await client.stop()


async def test_concurrent_jobs_per_tenant(tmp_path: Path) -> None:
    settings = job_settings(tmp_path, api_keys=KEYS, rate_limit_rps=0, jobs_max_concurrent=2)
    client = await JobClient(settings).start()
    client.http.headers.update(bearer(ACME_KEY))
    globex = other_tenant(client)
    try:
        first = await client.submit(jsonl([{"text": "退款还没到账"}]))
        await client.wait(first)  # a finished job does not count
        store = client.app.state.jobs.service().store
        for _ in range(2):  # two of acme's jobs waiting for a worker
            store.create_job(job_row(new_job_id(), "acme", {}))
        body = jsonl([{"text": "快递三天没动"}])
        refused = await client.http.post("/v1/jobs", content=body, headers={"content-type": "application/x-ndjson"})
        assert refused.status_code == 429, refused.text
        assert refused.json()["limit"] == "concurrent_jobs" and "retry-after" in refused.headers
        by_path = await client.http.post("/v1/jobs", json={"path": "x.jsonl"})
        assert by_path.status_code == 429 and by_path.json()["limit"] == "concurrent_jobs"
        assert len(list((settings.jobs_dir).glob("*/input.raw"))) == 0  # refused before anything was received
        other = await globex.post("/v1/jobs", content=body, headers={"content-type": "application/x-ndjson"})
        assert other.status_code == 202
    finally:
        await globex.aclose()
        await client.stop()


async def test_without_keys_nothing_is_limited(tmp_path: Path) -> None:
    settings = job_settings(tmp_path, rate_limit_rps=1.0, rate_limit_burst=1, rate_limit_messages_per_minute=256)
    client = await JobClient(settings).start()
    try:
        codes = {(await client.http.get("/v1/models")).status_code for _ in range(5)}
        assert codes == {200}
    finally:
        await client.stop()


def test_the_jobs_quota_is_counted_and_inserted_atomically(database: str | None, tmp_path: Path) -> None:
    store = JobStore.open(database, tmp_path / "jobs")
    try:
        with ThreadPoolExecutor(8) as pool:  # eight uploads of one tenant finish at once; the quota is 3
            won = list(pool.map(lambda _: store.create_job(job_row(new_job_id(), "acme", {}), 3), range(8)))
        assert won.count(True) == 3 and store.active_jobs("acme") == 3
        assert store.create_job(job_row(new_job_id(), "globex", {}), 3)  # per tenant
        assert store.create_job(job_row(new_job_id(), None, {}), 1)  # no tenant: no quota
    finally:
        store.close()


async def test_accept_refuses_over_the_quota_after_a_long_upload(tmp_path: Path) -> None:
    client = await JobClient(job_settings(tmp_path, api_keys=KEYS, rate_limit_rps=0, jobs_max_concurrent=1)).start()
    try:
        service = client.app.state.jobs.service()
        # The route's early check passed; meanwhile another upload of acme's was recorded.
        service.store.create_job(job_row(new_job_id(), "acme", {}))
        with pytest.raises(ApiError) as refused:
            service.accept(new_job_id(), "upload", None, "jsonl", None, {}, "acme", 1)
        assert refused.value.status_code == 429 and refused.value.limit == "concurrent_jobs"
        assert service.store.active_jobs("acme") == 1
    finally:
        await client.stop()
