"""The complaint store as a process sees it: opened (and migrated) once, written by jobs and by
``/v1/analyze``, read by the routes, and swept in the background (escalation, retention).

The API and every ``tousu worker`` hold one :class:`StoreRuntime`. It opens the database lazily and
retries on the next use when that fails, so a database that is down at start-up costs the store, not
``/v1/analyze``. The store shares the job database (``TOUSU_DATABASE_URL``, or SQLite in the jobs
directory by default).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from models.schema import Analysis
from service.jobs.db import JobRow, database_url, make_engine
from service.jobs.files import make_private_dirs
from service.jobs.records import Record
from service.settings import Settings
from service.store import alerts, escalation, migrate, retention, webhook
from service.store.queries import ComplaintQueries
from service.store.rows import Message, RowBuilder
from service.store.writer import ComplaintWriter

logger = logging.getLogger(__name__)

_DELIVERY_POLL_S = 5.0


def job_dataset(job: JobRow) -> str:
    """Where a job's messages go: its dataset, or a dataset of its own when it names none."""
    return job.dataset or f"job:{job.id}"


@dataclass(frozen=True)
class SweepResult:
    escalated: int
    alerts: int
    purged: int


class ComplaintStore:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        salt = settings.store_salt or settings.risk_salt
        builder = RowBuilder(salt.get_secret_value().encode() if salt else None, settings.store_keep_text)
        self.rules = alerts.load_rules(settings.store_alert_rules_path)
        self.writer = ComplaintWriter(engine, builder, new_red_alerts=self.rules.new_red)
        self.queries = ComplaintQueries(engine)
        self.wake = threading.Event()  # set by writes: new alerts may wait for the webhook

    @classmethod
    def open(cls, settings: Settings) -> ComplaintStore:
        if settings.database_url is None:
            make_private_dirs(settings.jobs_dir)  # 0700: the SQLite file beside the job files names datasets
        engine = make_engine(database_url(settings.database_url, settings.jobs_dir))
        try:
            migrate.upgrade(engine)
            return cls(engine, settings)
        except Exception:
            engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def write(self, messages: Iterable[Message]) -> int:
        n = self.writer.write(messages, time.time())
        self.wake.set()
        return n

    def _feeds(self, job: JobRow) -> bool:
        """One organisation's store: a tenant outside TOUSU_STORE_TENANTS neither feeds nor reads it."""
        return job.tenant is None or job.tenant in self.settings.store_tenants

    def write_job(self, job: JobRow, analysed: Sequence[tuple[Record, Analysis]]) -> None:
        if not self._feeds(job):
            return
        include_pii = bool(job.options.get("include_pii"))
        dataset = job_dataset(job)
        self.write(
            Message(
                dataset,
                analysis,
                record.text,
                id=record.id,
                received_at=datetime.fromisoformat(record.received_at) if record.received_at else None,
                channel=record.channel,
                customer_id=record.customer_id,
                job_id=job.id,
                include_pii=include_pii,
            )
            for record, analysis in analysed
        )

    def relabel_job(self, job: JobRow, analysed: Sequence[tuple[Record, Analysis]]) -> None:
        """The job's dataset topics: only the topic columns of stored rows change. A record without an id is
        stored under a content id (its redacted text...), so those rows are written again whole."""
        if not self._feeds(job):
            return
        with_id = [
            (r.id, a.topic.id if a.topic else None, a.topic.label if a.topic else None) for r, a in analysed if r.id
        ]
        if with_id:
            self.writer.set_topics(job_dataset(job), with_id)
        without_id = [(r, a) for r, a in analysed if not r.id]
        if without_id:
            self.write_job(job, without_id)

    def sweep(self, now: float) -> SweepResult:
        s = self.settings
        escalated = escalation.sweep(self.engine, s.store_patience_minutes, now)
        fired = alerts.evaluate(self.engine, self.rules, now)
        purged = retention.purge(self.engine, now - s.store_retention_days * 86400) if s.store_retention_days else 0
        return SweepResult(len(escalated), len(fired), purged)

    def deliver(self, now: float) -> int:
        """Send due alerts to the webhook, if one is configured."""
        s = self.settings
        if not s.store_webhook_url:
            return 0
        secret = s.store_webhook_secret.get_secret_value().encode() if s.store_webhook_secret else None
        return webhook.deliver_due(self.engine, s.store_webhook_url, secret, now, s.store_webhook_max_attempts)


class StoreRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._store: ComplaintStore | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self) -> ComplaintStore:
        """The open store; opens (and migrates) it on first use. Raises when the database cannot be reached."""
        with self._lock:
            if self._store is None:
                self._store = ComplaintStore.open(self.settings)
            return self._store

    def write_job(self, job: JobRow, analysed: Sequence[tuple[Record, Analysis]]) -> None:
        """The executor's hook: raising makes the chunk fail and run again, so no analysed message is lost."""
        self.get().write_job(job, analysed)

    def relabel_job(self, job: JobRow, analysed: Sequence[tuple[Record, Analysis]]) -> None:
        """The executor's topics-step hook (raising costs a report warning, not the job)."""
        self.get().relabel_job(job, analysed)

    def start(self) -> None:
        try:
            self.get()
        except Exception as exc:
            logger.error("complaint store unavailable (%s); retrying on use", type(exc).__name__)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tousu-store-sweep", daemon=True)
        self._thread.start()

    def sweep_once(self) -> SweepResult:
        return self.get().sweep(time.time())

    def _loop(self) -> None:
        """Sweeps every ``store_sweep_interval_s`` (with jitter: processes do not march in step); delivers
        alerts to the webhook soon after a write and at least every few seconds (retries with backoff)."""
        interval = self.settings.store_sweep_interval_s
        next_sweep = time.monotonic() + interval * random.uniform(0.8, 1.2)
        while not self._stop.is_set():
            store = self._store
            wake = store.wake if store is not None else self._stop
            wake.wait(max(0.01, min(_DELIVERY_POLL_S, next_sweep - time.monotonic())))
            if self._stop.is_set():
                return
            if store is not None:
                store.wake.clear()
            try:
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + interval * random.uniform(0.8, 1.2)
                    self.sweep_once()
                if self.settings.store_webhook_url:
                    self.get().deliver(time.time())
            except Exception as exc:
                logger.error("store sweep failed: %s", type(exc).__name__, exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._store is not None:
            self._store.wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
