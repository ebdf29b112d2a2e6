"""The cache contract against both backends; Redis is the real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis

from service.cache import Cache, MemoryCache, RedisCache
from service.settings import Settings
from tests.conftest import REDIS_URL, start_client


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "redis":
        request.getfixturevalue("redis_client")
        backend: Cache = RedisCache(REDIS_URL, namespace="test:")
    else:
        backend = MemoryCache(max_items=100)
    yield backend
    await backend.close()


async def test_get_and_set_many(cache: Cache) -> None:
    assert await cache.get_many(["a", "b"]) == [None, None]
    await cache.set_many({"a": b"1", "b": b"2"}, ttl_s=60)
    assert await cache.get_many(["b", "a", "c"]) == [b"2", b"1", None]


async def test_entries_expire(cache: Cache) -> None:
    await cache.set_many({"k": b"v"}, ttl_s=1)
    assert await cache.get_many(["k"]) == [b"v"]
    await asyncio.sleep(1.2)
    assert await cache.get_many(["k"]) == [None]


async def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_items=2)
    await cache.set_many({"a": b"1", "b": b"2"}, 60)
    await cache.get_many(["a"])
    await cache.set_many({"c": b"3"}, 60)
    assert await cache.get_many(["a", "b", "c"]) == [b"1", None, b"3"]


async def test_redis_down_is_a_miss_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    dead = RedisCache("redis://127.0.0.1:1/0", timeout_s=0.1)
    assert await dead.get_many(["a"]) == [None]
    await dead.set_many({"a": b"1"}, 60)  # must not raise
    assert "treating as a miss" in caplog.text
    await dead.close()


@pytest.mark.redis
async def test_service_uses_redis_and_keys_carry_no_raw_text(redis_client: redis.Redis) -> None:
    settings = Settings(redis_url=REDIS_URL)
    client, ctx = await start_client(settings)
    try:
        text = "我的手机号是13800138000，订单还没到"
        first = (await client.post("/v1/analyze", json={"text": text})).json()
        second = (await client.post("/v1/analyze", json={"text": text})).json()
        assert (first["cached"], second["cached"]) == (False, True)
        keys = redis_client.keys("*")
        assert len(keys) == 1
        key = keys[0].decode()
        assert key.startswith(settings.cache_namespace) and len(key) == len(settings.cache_namespace) + 64
        value = redis_client.get(keys[0]) or b""
        assert b"13800138000" not in value and "订单".encode() not in value
        assert 0 < redis_client.ttl(keys[0]) <= settings.cache_ttl_s
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_service_answers_when_redis_is_down() -> None:
    client, ctx = await start_client(Settings(redis_url="redis://127.0.0.1:1/0"))
    try:
        r = await client.post("/v1/analyze", json={"text": "still works"})
        assert r.status_code == 200 and r.json()["cached"] is False
        health = (await client.get("/health")).json()
        assert health["cache"] == "redis"
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]
