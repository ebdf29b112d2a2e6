"""``tousu worker``: one process that loads the models once and runs job messages from Redis.

Run as many as the machines allow; they share ``TOUSU_JOBS_DIR`` (a shared volume across
machines), the database (``TOUSU_DATABASE_URL``, PostgreSQL across machines) and Redis. SIGTERM
or Ctrl-C stops taking messages, hands the running chunk back at its next model batch, and exits.
While it runs, it refreshes a heartbeat key in Redis (``service/jobs/heartbeat.py``), so that a
killed worker's chunk is sent again about ``jobs_heartbeat_ttl_s`` after the kill.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from models.ort_options import limit_malloc_arenas
from models.registry import Registry
from service.jobs.executor import JobExecutor, worker_id
from service.jobs.files import JobFiles
from service.jobs.heartbeat import Heartbeat, HeartbeatMonitor
from service.jobs.queue import RedisQueue, declare_actors, make_broker
from service.jobs.reaper import Reaper
from service.jobs.store import JobStore
from service.settings import Settings
from service.store.runtime import StoreRuntime

logger = logging.getLogger("tousu.worker")


def run_worker(settings: Settings, loader: Callable[[Settings], Registry], threads: int = 1) -> int:
    import dramatiq
    from dramatiq.middleware import Retries

    if not settings.redis_url:
        logger.error("tousu worker needs TOUSU_REDIS_URL (without Redis the API runs jobs itself)")
        return 2
    owner = worker_id()
    limit_malloc_arenas()  # as the API does: before the model threads, so memory they free is not kept resident
    registry = loader(settings)  # once per process: every message reuses it
    store = JobStore.open(settings.database_url, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    retries = Retries(max_retries=settings.jobs_max_attempts, min_backoff=1000, max_backoff=60_000)
    broker = make_broker(settings.redis_url, settings.jobs_queue_name, settings.jobs_lease_s, [retries])
    queue = RedisQueue(broker)
    stop = threading.Event()
    complaints = StoreRuntime(settings) if settings.store_enabled else None  # also sweeps escalation, retention
    executor = JobExecutor(
        store,
        files,
        queue,
        settings,
        analyzer=registry.analyzer,
        owner=owner,
        stop=stop,
        on_analysed=complaints.write_job if complaints else None,
        on_relabelled=complaints.relabel_job if complaints else None,
    )
    declare_actors(broker, executor, settings.jobs_max_attempts)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=1000)
    worker.queue_prefetch = threads  # hold no more messages than we run: a killed worker strands none
    ttl = settings.jobs_heartbeat_ttl_s
    heartbeat = Heartbeat(broker.client, broker.namespace, owner, ttl) if ttl > 0 else None
    monitor = HeartbeatMonitor(broker.client, broker.namespace, ttl) if ttl > 0 else None
    reaper = Reaper(store, files, queue, executor.finalize, settings, monitor)

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping after the running chunk", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if heartbeat is not None:
        heartbeat.start()  # before the first message: a chunk is never held by an unregistered worker
    worker.start()
    reaper.run_once()
    reaper.start()
    if complaints is not None:
        complaints.start()
    logger.info("worker %s ready: %s", owner, registry.analyzer.model_versions)
    stop.wait()
    reaper.stop()
    worker.stop(timeout=int(settings.jobs_lease_s * 1000))
    if heartbeat is not None:
        heartbeat.stop()  # after the running chunk was handed back
    if complaints is not None:
        complaints.stop()
    queue.close()
    store.close()
    logger.info("worker %s stopped", owner)
    return 0
