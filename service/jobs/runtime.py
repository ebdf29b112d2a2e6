"""The batch-job side of the API process, started and stopped by the app lifespan.

With ``TOUSU_REDIS_URL`` the API only accepts jobs and sends messages; ``tousu worker`` processes
run them. Without it, jobs run here, in ``jobs_local_threads`` threads with the API's own
analyzer, so ``make run`` works alone. Either way the API runs the reaper (a pass at start-up
resumes what a previous process left unfinished).

This runtime creates nothing on disk until the first job arrives; the complaint store
(``service/store``, on unless ``TOUSU_STORE_ENABLED=false``) migrates the same database at start-up,
so with the SQLite default the file exists from then on and the job side opens it at start-up too.
"""

from __future__ import annotations

import logging
import threading

from models.pipeline import Analyzer
from service.jobs.db import DEFAULT_DB
from service.jobs.executor import AnalysedHook, JobExecutor, worker_id
from service.jobs.files import JobFiles
from service.jobs.heartbeat import HeartbeatMonitor
from service.jobs.queue import JobQueue, LocalQueue, RedisQueue, make_broker
from service.jobs.reaper import Reaper
from service.jobs.service import JobService
from service.jobs.store import JobStore
from service.settings import Settings

logger = logging.getLogger(__name__)


class JobRuntime:
    def __init__(
        self,
        settings: Settings,
        analyzer: Analyzer,
        on_analysed: AnalysedHook | None = None,
        on_relabelled: AnalysedHook | None = None,
    ) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.on_analysed = on_analysed
        self.on_relabelled = on_relabelled
        self._lock = threading.Lock()
        self._service: JobService | None = None
        self._store: JobStore | None = None
        self._queue: JobQueue | None = None
        self._reaper: Reaper | None = None

    @property
    def backend(self) -> str:
        return "redis" if self.settings.redis_url else "local"

    def _has_database(self) -> bool:
        s = self.settings
        return s.database_url is not None or (s.jobs_dir / DEFAULT_DB).exists()

    def start(self) -> None:
        """Open now if there is a database to resume from; otherwise wait for the first job."""
        if self._has_database():
            try:
                self.service()
            except Exception as exc:  # database down: /v1/analyze still starts; job requests retry the open
                logger.error("batch jobs unavailable: cannot open the job database (%s)", type(exc).__name__)

    def peek(self) -> JobService | None:
        return self._service

    def existing(self) -> JobService | None:
        """The service if a job database exists (opening it if needed), without creating one."""
        if self._service is None and not self._has_database():
            return None
        return self.service()

    def service(self) -> JobService:
        with self._lock:
            if self._service is None:
                self._service = self._open()
            return self._service

    def _open(self) -> JobService:
        s = self.settings
        store = JobStore.open(s.database_url, s.jobs_dir)
        files = JobFiles(s.jobs_dir)
        owner = f"api:{worker_id()}"
        queue: JobQueue
        monitor: HeartbeatMonitor | None = None
        if s.redis_url:
            broker = make_broker(s.redis_url, s.jobs_queue_name, s.jobs_lease_s)
            queue = RedisQueue(broker)
            if s.jobs_heartbeat_ttl_s > 0:  # the API runs no chunks, but its reaper watches the workers' heartbeats
                monitor = HeartbeatMonitor(broker.client, broker.namespace, s.jobs_heartbeat_ttl_s)
            executor = JobExecutor(store, files, queue, s, analyzer=None, owner=owner)
        else:
            local = LocalQueue(s.jobs_local_threads)
            executor = JobExecutor(
                store,
                files,
                local,
                s,
                analyzer=self.analyzer,
                owner=owner,
                stop=local.stopping,
                on_analysed=self.on_analysed,
                on_relabelled=self.on_relabelled,
            )
            local.start(executor)
            queue = local
        reaper = Reaper(store, files, queue, executor.finalize, s, monitor)
        try:
            result = reaper.run_once(resend_all=queue.backend == "local")
        except Exception as exc:  # e.g. Redis down: /v1/analyze must still start; the periodic pass retries
            logger.error("start-up reaper pass failed (%s); retrying in the background", type(exc).__name__)
        else:
            if result.resent or result.prepares or result.expired or result.finished:
                logger.info(
                    "resumed jobs after start-up: %d chunk(s), %d prepare(s) sent, %d job(s) finished",
                    len(result.resent) + len(result.expired),
                    len(result.prepares),
                    len(result.finished),
                )
        reaper.start()
        self._store, self._queue, self._reaper = store, queue, reaper
        logger.info(
            "batch jobs: %s queue, database %s", queue.backend, store.engine.url.render_as_string(hide_password=True)
        )
        return JobService(s, store, files, queue)

    def stop(self) -> None:
        with self._lock:
            if self._reaper is not None:
                self._reaper.stop()
            if self._queue is not None:
                self._queue.close()
            if self._store is not None:
                self._store.close()
            self._service = self._store = self._queue = self._reaper = None
