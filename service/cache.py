"""Answer cache behind a small protocol: Redis when configured, in-process LRU otherwise.

Keys are hex digests computed by :meth:`models.pipeline.Analyzer.cache_key` (model
versions + sha256 of normalised text and options), never raw text. A Redis failure is
a miss and a log line, never an error for the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Protocol

logger = logging.getLogger(__name__)


class Cache(Protocol):
    backend: str

    async def get_many(self, keys: list[str]) -> list[bytes | None]: ...

    async def set_many(self, items: dict[str, bytes], ttl_s: int) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """Thread-safe LRU with per-entry expiry."""

    backend = "memory"

    def __init__(self, max_items: int = 50_000) -> None:
        self.max_items = max_items
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        now = time.monotonic()
        out: list[bytes | None] = []
        with self._lock:
            for key in keys:
                hit = self._data.get(key)
                if hit is None or hit[0] < now:
                    if hit is not None:
                        del self._data[key]
                    out.append(None)
                else:
                    self._data.move_to_end(key)
                    out.append(hit[1])
        return out

    async def set_many(self, items: dict[str, bytes], ttl_s: int) -> None:
        if self.max_items <= 0:
            return
        expires = time.monotonic() + ttl_s
        with self._lock:
            for key, value in items.items():
                self._data[key] = (expires, value)
                self._data.move_to_end(key)
            while len(self._data) > self.max_items:
                self._data.popitem(last=False)

    async def close(self) -> None:
        with self._lock:
            self._data.clear()


class RedisCache:
    backend = "redis"

    def __init__(self, url: str, namespace: str = "tousu:analysis:", timeout_s: float = 0.2) -> None:
        import redis.asyncio as redis

        self.namespace = namespace
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30
        )
        self._last_error_log = 0.0

    def _log_failure(self, op: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log > 10:  # one line per 10 s, not one per request
            logger.warning("redis cache %s failed (%s); treating as a miss", op, type(exc).__name__)
            self._last_error_log = now

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        try:
            values = await self._client.mget([self.namespace + k for k in keys])
        except Exception as exc:  # any Redis or network failure is a miss
            self._log_failure("get", exc)
            return [None] * len(keys)
        return [v if isinstance(v, bytes) else None for v in values]

    async def set_many(self, items: dict[str, bytes], ttl_s: int) -> None:
        if not items:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(self.namespace + key, value, ex=ttl_s)
                await pipe.execute()
        except Exception as exc:
            self._log_failure("set", exc)

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except Exception as exc:
            self._log_failure("close", exc)


def make_cache(redis_url: str | None, namespace: str, max_items: int) -> Cache:
    if redis_url:
        return RedisCache(redis_url, namespace)
    return MemoryCache(max_items)
