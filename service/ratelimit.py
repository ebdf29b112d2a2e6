"""Per-tenant limits: requests per second, messages per minute (token buckets), concurrent jobs.

A token bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a request takes one
token from its tenant's request bucket, ``/v1/analyze*`` takes one per message from the message
bucket (``rate_limit_messages_per_minute``, which is also its capacity: a minute's worth may come at
once). When the tokens are not there the answer is 429 ``rate_limited`` with ``Retry-After`` (whole
seconds until enough tokens are back) and ``limit`` naming the bucket.

With ``TOUSU_REDIS_URL`` the buckets live in Redis, updated by one Lua script (read, refill, take,
write, expire: atomic, on Redis' own clock), so every API process shares them; otherwise in this
process. A Redis failure lets the request through with one log line per outage window: a limit is
protection, and an outage of it must not become an outage of the service.

Limits apply to tenants, that is with API keys configured (``service/auth.py``); without keys the
service is local (or gated in front, ``TOUSU_AUTH=off``) and nothing is limited here.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from service.errors import ApiError, ErrorType
from service.settings import Settings

logger = logging.getLogger(__name__)

REQUESTS, MESSAGES, JOBS = "requests_per_second", "messages_per_minute", "concurrent_jobs"

# KEYS[1] bucket; ARGV rate (tokens/s), burst, cost. Returns "0" (taken) or the seconds until it would be.
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class Buckets(Protocol):
    backend: str

    async def take(self, key: str, rate: float, burst: float, cost: float) -> float:
        """Take ``cost`` tokens; 0.0 when taken, else the seconds until they would be there (nothing taken)."""
        ...

    async def close(self) -> None: ...


class MemoryBuckets:
    """Buckets of this process (the API's event loop; a lock in case a thread calls in)."""

    backend = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    async def take(self, key: str, rate: float, burst: float, cost: float) -> float:
        now = self.clock()
        with self._lock:
            tokens, at = self._state.get(key, (burst, now))
            tokens = min(burst, tokens + max(0.0, now - at) * rate)
            wait = 0.0
            if tokens >= cost:
                tokens -= cost
            else:
                wait = (cost - tokens) / rate
            if len(self._state) >= self.max_keys and key not in self._state:
                self._state.clear()  # tenants are few; only a misconfiguration gets here, and full buckets are safe
            self._state[key] = (tokens, now)
            return wait

    async def close(self) -> None:
        self._state.clear()


class RedisBuckets:
    """Buckets in Redis (one hash per tenant and limit), shared by every API process."""

    backend = "redis"

    def __init__(
        self, url: str, namespace: str = "tousu:ratelimit:", timeout_s: float = 0.25, retry_after_s: float = 10.0
    ) -> None:
        import redis.asyncio as aioredis

        self.namespace = namespace
        self.retry_after_s = retry_after_s
        self._client: Any = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._script: Any = self._client.register_script(TAKE_SCRIPT)
        self._down_until = 0.0

    async def take(self, key: str, rate: float, burst: float, cost: float) -> float:
        if time.monotonic() < self._down_until:
            return 0.0
        try:
            wait = await self._script(keys=[self.namespace + key], args=[repr(rate), repr(burst), repr(cost)])
        except Exception as exc:
            first = time.monotonic() >= self._down_until
            self._down_until = time.monotonic() + self.retry_after_s
            if first:  # one line per outage window
                logger.warning(
                    "rate limits: redis failed (%s); not limiting for %.0f s", type(exc).__name__, self.retry_after_s
                )
            return 0.0
        return float(wait)

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except Exception as exc:
            logger.debug("rate limits: close failed (%s)", type(exc).__name__)


def make_buckets(redis_url: str | None) -> Buckets:
    return RedisBuckets(redis_url) if redis_url else MemoryBuckets()


def _retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


class RateLimiter:
    """The per-tenant limits of the settings over one set of buckets (``tenant`` None: not limited)."""

    def __init__(self, settings: Settings, buckets: Buckets) -> None:
        self.settings = settings
        self.buckets = buckets

    async def check_request(self, tenant: str | None) -> None:
        rps = self.settings.rate_limit_rps
        if tenant is None or rps <= 0:
            return
        wait = await self.buckets.take(f"{tenant}:rps", rps, float(self.settings.rate_limit_burst), 1.0)
        if wait > 0:
            raise ApiError(
                ErrorType.RATE_LIMITED,
                f"over {rps:g} requests per second for this key",
                {"Retry-After": _retry_after(wait)},
                limit=REQUESTS,
            )

    async def charge_messages(self, tenant: str | None, count: int) -> None:
        per_minute = self.settings.rate_limit_messages_per_minute
        if tenant is None or per_minute <= 0 or count <= 0:
            return
        wait = await self.buckets.take(f"{tenant}:mpm", per_minute / 60.0, float(per_minute), float(count))
        if wait > 0:
            raise ApiError(
                ErrorType.RATE_LIMITED,
                f"over {per_minute} messages per minute for this key ({count} in this request)",
                {"Retry-After": _retry_after(wait)},
                limit=MESSAGES,
            )

    def check_jobs(self, tenant: str | None, active: int) -> None:
        """``active``: the tenant's queued and running jobs, before this one."""
        most = self.settings.jobs_max_concurrent
        if tenant is None or most <= 0 or active < most:
            return
        raise ApiError(
            ErrorType.RATE_LIMITED,
            f"{active} jobs of this key are queued or running; the limit is {most}",
            {"Retry-After": "30"},
            limit=JOBS,
        )

    async def close(self) -> None:
        await self.buckets.close()
