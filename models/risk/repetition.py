"""How many times has this customer raised this issue recently? A small store behind a protocol.

``RepetitionTracker.count`` records one event per analysed message that carries a ``customer_id``
and returns how many events the same (customer, issue) pair has within the window, this one
included. Keys never hold the raw id: ``HMAC-SHA256(salt, customer_id)`` plus a hash of the issue:
"any" (every message of the customer: the default, like a contact centre's repeat-contact rate) or,
with ``transforms.repetition.issue = "category"`` in the risk config, the ``category`` name when the
topic stage is served (the zero-shot category often changes between a customer's follow-ups, "still
not delivered" -> "refund me", so per-category counts miss repeats; see the model card).
Events of a message with ``received_at`` are idempotent (the same message analysed twice,
e.g. a client retry or a re-run batch chunk, counts once); without it every analysis is a new event.

Stores: :class:`RedisRepetitionStore` (sorted set per key, shared by all processes, TTL = window)
when ``TOUSU_REDIS_URL`` is set, else :class:`MemoryRepetitionStore` (per process, bounded). A Redis
failure is a logged, degraded signal (no repetition for a while), never an error for the caller.

The salt is never stored beside the hashes: it is ``TOUSU_RISK_SALT`` (a setting, shared by every
process), or a random salt made by the tracker for this process alone. Customer ids are low-entropy
(a phone number is one of ~10^9), so anyone holding both the salt and a key recovers the id in
seconds; ``models/risk/stage.py`` therefore refuses Redis-backed repetition without the setting
outside local use.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from models.pipeline import AnalysisInput

logger = logging.getLogger(__name__)

ANY_ISSUE = "any"


@dataclass(frozen=True)
class Repeat:
    """``count`` messages (this one included) within ``window_s`` about ``issue`` (None: any issue)."""

    count: int
    window_s: float
    issue: str | None


class RepetitionStore(Protocol):
    backend: str

    def record(self, key: str, event: str, at: float, window_s: float) -> int | None:
        """Add ``event`` at time ``at``; return the events of ``key`` in ``(at - window_s, at]`` (None: failed)."""
        ...

    def close(self) -> None: ...


class MemoryRepetitionStore:
    """Per-process store: an LRU of keys, each a dict event -> time, expiring ``window_s`` after its last write."""

    backend = "memory"

    def __init__(
        self, max_keys: int = 100_000, max_events_per_key: int = 1000, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_keys = max_keys
        self.max_events = max_events_per_key
        self.clock = clock
        self._data: OrderedDict[str, tuple[float, dict[str, float]]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, key: str, event: str, at: float, window_s: float) -> int:
        now = self.clock()
        with self._lock:
            expires, events = self._data.pop(key, (0.0, {}))
            if expires < now:
                events = {}
            events.setdefault(event, at)
            for old in [e for e, t in events.items() if t <= at - window_s]:
                del events[old]
            if len(events) > self.max_events:
                for old in sorted(events, key=events.__getitem__)[: len(events) - self.max_events]:
                    del events[old]
            self._data[key] = (now + window_s, events)
            while len(self._data) > self.max_keys:
                self._data.popitem(last=False)
            return sum(1 for t in events.values() if at - window_s < t <= at)

    def __len__(self) -> int:
        return len(self._data)

    def close(self) -> None:
        with self._lock:
            self._data.clear()


class RedisRepetitionStore:
    """One sorted set per key (member = event id, score = time), trimmed to the window, TTL = window.

    After a failure the store answers None for ``retry_after_s`` without trying, so a Redis outage
    costs one timeout, not one per message.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        namespace: str = "tousu:risk:",
        timeout_s: float = 0.25,
        retry_after_s: float = 10.0,
        max_events_per_key: int = 1000,
    ) -> None:
        import redis

        self.namespace = namespace
        self.retry_after_s = retry_after_s
        self.max_events = max_events_per_key
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._down_until = 0.0
        self._lock = threading.Lock()

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, op: str, exc: Exception) -> None:
        with self._lock:
            first = self._available()
            self._down_until = time.monotonic() + self.retry_after_s
        if first:  # one line per outage window, never the key or the customer
            logger.warning(
                "risk repetition store: redis %s failed (%s); repetition signal off for %.0f s",
                op,
                type(exc).__name__,
                self.retry_after_s,
            )

    def forget_stored_salt(self) -> bool:
        """Delete the salt earlier versions kept in Redis next to the hashes (True if there was one): the
        keys it salted can no longer be linked to a customer id, and expire with the window."""
        try:
            return bool(self._client.delete(self.namespace + "salt"))
        except Exception as exc:
            self._failed("delete of the stored salt", exc)
            return False

    def record(self, key: str, event: str, at: float, window_s: float) -> int | None:
        if not self._available():
            return None
        name = self.namespace + "rep:" + key
        low = f"({at - window_s}"
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.zadd(name, {event: at}, nx=True)
            pipe.zremrangebyscore(name, "-inf", at - window_s)
            pipe.zremrangebyrank(name, 0, -(self.max_events + 1))
            pipe.zcount(name, low, at)
            pipe.expire(name, max(1, int(window_s)))
            result = pipe.execute()
        except Exception as exc:
            self._failed("record", exc)
            return None
        return int(result[3])

    def close(self) -> None:
        try:
            self._client.close()
        except Exception as exc:  # closing a dead connection is not worth more than a debug line
            logger.debug("risk repetition store: close failed (%s)", type(exc).__name__)


def make_store(redis_url: str | None, max_keys: int = 100_000) -> RepetitionStore:
    if redis_url:
        return RedisRepetitionStore(redis_url)
    return MemoryRepetitionStore(max_keys=max_keys)


def _issue(fields: Mapping[str, Any]) -> str | None:
    category = fields.get("category")
    name = category.get("name") if isinstance(category, Mapping) else getattr(category, "name", None)
    return str(name) if name else None


def _timestamp(received_at: datetime | None) -> float | None:
    if received_at is None:
        return None
    if received_at.tzinfo is None:  # a naive time is read as UTC, the API's documented convention
        received_at = received_at.replace(tzinfo=UTC)
    return received_at.timestamp()


class RepetitionTracker:
    def __init__(
        self,
        store: RepetitionStore,
        window_s: float,
        salt: bytes | None = None,
        by_category: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``salt``: the configured secret; None: a random one for this process (counts are then this process's
        own and start again at a restart)."""
        self.store = store
        self.window_s = window_s
        self.salt = salt or secrets.token_bytes(32)
        self.by_category = by_category
        self.clock = clock

    def customer_key(self, customer_id: str, salt: bytes) -> str:
        return hmac.new(salt, customer_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def count(self, item: AnalysisInput, fields: Mapping[str, Any]) -> Repeat | None:
        """Record this message and return the repetition count; None without a customer id or store."""
        if not item.customer_id or not item.customer_id.strip():
            return None
        salt = self.salt
        issue = _issue(fields) if self.by_category else None
        issue_hash = hashlib.sha256((issue or ANY_ISSUE).encode("utf-8")).hexdigest()[:12]
        key = f"{self.customer_key(item.customer_id, salt)}:{issue_hash}"
        at = _timestamp(item.received_at)
        if at is None:
            at, event = self.clock(), uuid.uuid4().hex
        else:
            material = salt + b"\0" + item.normalized.text.encode("utf-8") + b"\0" + repr(at).encode()
            event = hashlib.sha256(material).hexdigest()[:32]
        n = self.store.record(key, event, at, self.window_s)
        return None if n is None else Repeat(n, self.window_s, issue)
