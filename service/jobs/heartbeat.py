"""Worker liveness: every ``tousu worker`` refreshes a short-lived Redis key; reapers see a dead one within a TTL.

The chunk lease (``jobs_lease_s``) has to be long: it is renewed by the process doing the work, and
a live worker slowed down by a loaded machine or a database hiccup must not lose its chunk. Waiting
the whole lease for a *dead* worker, though, makes recovery slow, and a re-sent chunk that goes to
the front still waits for a busy worker to finish its own chunk: with a 5 s lease and 1 s chunks a
killed worker's chunk was done 6.9 s after the kill (bound lease + one chunk, 6.0 s).

So each worker process also says it is alive, the standard pattern of Celery, RQ and Dramatiq:

- :class:`Heartbeat` (in the worker) sets ``<namespace>:heartbeat:<owner>`` with a TTL of
  ``jobs_heartbeat_ttl_s`` every quarter of it, and adds its owner id to ``<namespace>:workers``;
- :class:`HeartbeatMonitor` (in every reaper) lists the registered workers whose key has expired.
  A SIGKILLed process stops refreshing at once, so its chunks are sent again (to the front) about one
  TTL after the kill instead of one lease; the lease stays the backstop for a hung-but-alive
  process (its heartbeat thread still beats) and for a worker that died while Redis was away.

A worker that stops cleanly hands its chunk back and then deletes its key and registration. The key
and the registration live in the same Redis, so a Redis restarted empty forgets both together: no
live worker is taken for dead (each beat registers again). A live worker cut off from Redis for
longer than the TTL is taken for dead: its chunk runs again elsewhere and its own run stops at its
next lease renewal, refused because the chunk changed hands (no record lost or doubled, some work
repeated). The keys hold only owner ids (host:pid:nonce), never customer data.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

#: A beat every this share of the TTL: three beats may be missed before a live worker is taken for dead.
BEAT_SHARE = 0.25


def heartbeat_key(namespace: str, owner: str) -> str:
    return f"{namespace}:heartbeat:{owner}"


def registry_key(namespace: str) -> str:
    return f"{namespace}:workers"


class Heartbeat:
    """A worker process's liveness key, refreshed from a background thread."""

    def __init__(self, client: Any, namespace: str, owner: str, ttl_s: float) -> None:
        self.client = client
        self.namespace = namespace
        self.owner = owner
        self.ttl_ms = max(int(ttl_s * 1000), 1)
        self.interval_s = ttl_s * BEAT_SHARE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def beat(self) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(heartbeat_key(self.namespace, self.owner), b"1", px=self.ttl_ms)
        pipe.sadd(registry_key(self.namespace), self.owner)
        pipe.execute()

    def start(self) -> None:
        self._beat_safely()
        self._thread = threading.Thread(target=self._loop, name="tousu-heartbeat", daemon=True)
        self._thread.start()

    def _beat_safely(self) -> None:
        try:
            self.beat()
        except Exception as exc:  # Redis away: the lease still protects the chunk; say so once
            if not self._failing:
                logger.warning("heartbeat failed (%s); retrying", type(exc).__name__)
            self._failing = True
        else:
            if self._failing:
                logger.info("heartbeat restored")
            self._failing = False

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._beat_safely()

    def stop(self) -> None:
        """Stop beating and unregister (call after the running chunk was handed back)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(heartbeat_key(self.namespace, self.owner))
            pipe.srem(registry_key(self.namespace), self.owner)
            pipe.execute()
        except Exception as exc:  # the key expires by itself
            logger.warning("could not unregister the heartbeat (%s)", type(exc).__name__)


class HeartbeatMonitor:
    """The reaper's side: which registered workers stopped beating."""

    def __init__(self, client: Any, namespace: str, ttl_s: float) -> None:
        self.client = client
        self.namespace = namespace
        self.check_s = ttl_s * BEAT_SHARE  # how often a reaper looks

    def dead(self) -> list[str]:
        """Owner ids of registered workers whose heartbeat key has expired, sorted."""
        owners = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in self.client.smembers(self._registry))
        if not owners:
            return []
        pipe = self.client.pipeline(transaction=False)
        for owner in owners:
            pipe.exists(heartbeat_key(self.namespace, owner))
        alive = pipe.execute()
        return [owner for owner, found in zip(owners, alive, strict=True) if not found]

    def forget(self, owner: str) -> None:
        """Unregister a dead worker once its work was sent again (a live one registers again at its next beat)."""
        self.client.srem(self._registry, owner)

    @property
    def _registry(self) -> str:
        return registry_key(self.namespace)
