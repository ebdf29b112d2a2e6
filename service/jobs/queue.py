"""Where job messages go: Dramatiq on Redis (``tousu worker`` processes), or threads in the API process.

Why Dramatiq (docs/architecture.md has the comparison): its Redis broker acks a message only after
the actor returns and keeps fetched-but-unacked messages in a per-worker set; another worker moves
them back to the queue once the dead worker's heartbeat is ``heartbeat_timeout`` old. So a worker
killed with SIGKILL loses no message, recovery time does not grow with chunk length, and one
process runs many messages without forking (the models load once). Redelivery is at least once,
which is why every handler here is idempotent, and it is probabilistic (a share of broker calls do
the maintenance), which is why the reaper re-sends expired chunks on its own as well.

Re-sent chunks go to the **front** of the queue (``send_chunk(..., front=True)``): a chunk whose
worker was killed has already waited a lease; behind a long queue it would wait the whole queue
again (174 s in a 20,000-record probe). Workers take from the front, so it is the next chunk a
worker starts. A killed worker is noticed by its stopped heartbeat (``service/jobs/heartbeat.py``,
about ``jobs_heartbeat_ttl_s``) rather than its lease, so the chunk is done within heartbeat TTL +
about two chunk times (the one a surviving worker is finishing and its own): within lease + one
chunk time whenever the TTL is shorter than the lease by a chunk time.

Messages carry only a job id and a chunk index, never customer data.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dramatiq.brokers.redis import RedisBroker

logger = logging.getLogger(__name__)

PREPARE_ACTOR = "tousu_prepare_job"
CHUNK_ACTOR = "tousu_run_chunk"
QUEUE_NAME = "work"


class Handler(Protocol):
    def prepare(self, job_id: str) -> None: ...

    def run_chunk(self, job_id: str, idx: int) -> None: ...


class JobQueue(Protocol):
    """Sends return the broker's message id (None when messages have none) for :meth:`lost`."""

    backend: str

    def send_prepare(self, job_id: str) -> str | None: ...

    def send_chunk(self, job_id: str, idx: int, front: bool = False) -> str | None:
        """``front``: a re-send (lease expired, message lost, worker stopping): run it before queued work."""
        ...

    def lost(self, message_ids: list[str]) -> set[str]:
        """The ids the broker no longer holds (neither queued, delayed nor in flight)."""
        ...

    def close(self) -> None: ...


class LocalQueue:
    """The embedded default: a FIFO served by threads of this process (no Redis needed); re-sends go first.

    Messages live in memory only; after a restart the API's start-up reaper pass re-sends every
    unfinished job from the database.
    """

    backend = "local"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.stopping = threading.Event()
        self._items: deque[tuple[Any, ...]] = deque()
        self._ready = threading.Condition()
        self._workers: list[threading.Thread] = []

    def start(self, handler: Handler) -> None:
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, args=(handler,), name=f"tousu-job-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)

    def send_prepare(self, job_id: str) -> str | None:
        self._put(("prepare", job_id), front=False)
        return None

    def send_chunk(self, job_id: str, idx: int, front: bool = False) -> str | None:
        self._put(("chunk", job_id, idx), front)
        return None

    def _put(self, item: tuple[Any, ...], front: bool) -> None:
        with self._ready:
            if front:
                self._items.appendleft(item)
            else:
                self._items.append(item)
            self._ready.notify()

    def _get(self, timeout: float) -> tuple[Any, ...] | None:
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            return self._items.popleft() if self._items else None

    def lost(self, message_ids: list[str]) -> set[str]:
        return set()  # in memory: lost only with the process, and the start-up pass re-sends everything

    @property
    def depth(self) -> int:
        return len(self._items)

    def _loop(self, handler: Handler) -> None:
        while not self.stopping.is_set():
            item = self._get(timeout=0.2)
            if item is None:
                continue
            try:
                if item[0] == "prepare":
                    handler.prepare(item[1])
                else:
                    handler.run_chunk(item[1], item[2])
            except Exception as exc:  # the lease expires and the reaper re-sends it
                logger.error("job task %s of job %s failed: %s", item[0], item[1], type(exc).__name__, exc_info=True)

    def close(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        for thread in self._workers:
            thread.join(timeout)
        self._workers.clear()


def make_broker(redis_url: str, namespace: str, lease_s: float, middleware: list[Any] | None = None) -> RedisBroker:
    """A Redis broker whose dead-worker detection matches the chunk lease."""
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(  # type: ignore[no-untyped-call]
        url=redis_url,
        namespace=namespace,
        middleware=middleware or [],
        heartbeat_timeout=int(lease_s * 1000),
        # One broker call in 100 (default: 1 in 1000) runs the maintenance that requeues a dead
        # worker's unacked messages, so Dramatiq's own redelivery happens within minutes.
        maintenance_chance=10_000,
    )


# Moves a message id to the head of the queue list if it is still waiting there (not yet fetched), atomically.
_TO_FRONT = """
if redis.call("lrem", KEYS[1], 1, ARGV[1]) == 1 then
    redis.call("lpush", KEYS[1], ARGV[1])
    return 1
end
return 0
"""


class RedisQueue:
    """Producer side of the Dramatiq queue (the API process, and workers' reapers)."""

    backend = "redis"

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        # Dramatiq's Redis layout (pinned 2.2.1): every message not yet acked, whether queued or fetched by a
        # worker, is a field of "<namespace>:<queue>.msgs" (".DQ.msgs" while a retry waits out its delay).
        self._held = [f"{broker.namespace}:{QUEUE_NAME}.msgs", f"{broker.namespace}:{QUEUE_NAME}.DQ.msgs"]
        # The waiting message ids, in order: enqueue appends (RPUSH), a worker's fetch takes from the head (LPOP).
        self.list_key = f"{broker.namespace}:{QUEUE_NAME}"
        self._to_front = broker.client.register_script(_TO_FRONT)

    def _send(self, actor: str, args: tuple[Any, ...]) -> str:
        from dramatiq import Message

        sent = self.broker.enqueue(Message(queue_name=QUEUE_NAME, actor_name=actor, args=args, kwargs={}, options={}))
        return str(sent.options["redis_message_id"])

    def send_prepare(self, job_id: str) -> str | None:
        return self._send(PREPARE_ACTOR, (job_id,))

    def send_chunk(self, job_id: str, idx: int, front: bool = False) -> str | None:
        message_id = self._send(CHUNK_ACTOR, (job_id, idx))
        if front:
            self.to_front(message_id)
        return message_id

    def to_front(self, message_id: str) -> bool:
        """Put a waiting message first in line (False: a worker fetched it already, which is as good)."""
        return bool(self._to_front(keys=[self.list_key], args=[message_id]))

    def lost(self, message_ids: list[str]) -> set[str]:
        """Messages Redis no longer has although their chunk was never claimed (e.g. Redis restarted empty)."""
        if not message_ids:
            return set()
        pipe = self.broker.client.pipeline(transaction=False)
        for mid in message_ids:
            for key in self._held:
                pipe.hexists(key, mid)
        found = pipe.execute()
        return {mid for i, mid in enumerate(message_ids) if not any(found[2 * i : 2 * i + 2])}

    def close(self) -> None:
        self.broker.close()
        self.broker.client.close()


def declare_actors(broker: RedisBroker, handler: Handler, max_retries: int) -> None:
    """Consumer side: the two actors a ``tousu worker`` runs."""
    from dramatiq import Actor

    options = {"max_retries": max_retries, "min_backoff": 1000, "max_backoff": 60_000}
    Actor(handler.prepare, broker=broker, actor_name=PREPARE_ACTOR, queue_name=QUEUE_NAME, priority=0, options=options)
    Actor(handler.run_chunk, broker=broker, actor_name=CHUNK_ACTOR, queue_name=QUEUE_NAME, priority=0, options=options)
