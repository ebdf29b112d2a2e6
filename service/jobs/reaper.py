"""The janitor that makes recovery need no human. It runs in every worker and in the API.

Between passes, every quarter of ``jobs_heartbeat_ttl_s`` (with Redis), it asks Redis which registered
workers stopped beating (``service/jobs/heartbeat.py``) and sends their running chunks and prepares
again at once, without waiting for their leases: a SIGKILLed worker's chunk is sent again about one
heartbeat TTL after the kill, so it is done within lease + one chunk time even when every surviving
worker is in the middle of a chunk it finishes first.

Each pass:

1. chunks whose lease expired (the worker was killed, hung past ``jobs_chunk_timeout_s``, or lost
   its network) go back to ``queued`` and are sent again;
2. queued chunks whose message was never sent (the process died between the split and the send),
   is no longer in Redis (Redis restarted without persistence) or was sent over
   ``jobs_requeue_after_s`` ago are sent again;
3. the same for jobs waiting for their prepare (the API died right after accepting the upload),
   and for prepares whose worker died;
4. running jobs with every chunk done but no report (the last worker died while finishing) are
   finished;
5. files of jobs that ended ``jobs_result_ttl_s`` ago are deleted (retention), those of ``include_pii``
   jobs (raw personal data) ``jobs_pii_result_ttl_s`` ago.

Chunks sent again go to the front of the queue (``JobQueue.send_chunk(front=True)``): they have
waited long enough already.

Every re-send is a compare-and-set in the database, so several reapers send one message, and
the handlers are idempotent, so a message that was not lost after all costs a no-op.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from service.jobs.files import JobFiles
from service.jobs.heartbeat import HeartbeatMonitor
from service.jobs.queue import JobQueue
from service.jobs.store import JobStore, Waiting
from service.settings import Settings

logger = logging.getLogger(__name__)
#: Woken this long after a lease ends (a worker renewing at the last moment is not raced).
LEASE_GRACE_S = 0.05


@dataclass
class ReapResult:
    expired: list[tuple[str, int]] = field(default_factory=list)
    orphaned: list[tuple[str, int]] = field(default_factory=list)  # their worker's heartbeat stopped
    resent: list[tuple[str, int]] = field(default_factory=list)
    prepares: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)


class Reaper:
    def __init__(
        self,
        store: JobStore,
        files: JobFiles,
        queue: JobQueue,
        finalize: Callable[[str], bool],
        settings: Settings,
        heartbeats: HeartbeatMonitor | None = None,
    ) -> None:
        self.store = store
        self.files = files
        self.queue = queue
        self.finalize = finalize
        self.settings = settings
        self.heartbeats = heartbeats
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, resend_all: bool = False) -> ReapResult:
        """One pass. ``resend_all``: the in-process queue just started empty, so send every queued item."""
        s = self.settings
        store, queue = self.store, self.queue
        now = time.time()
        out = ReapResult()
        self._reap_dead_workers(out)
        for job_id, idx in store.expired_chunks(now):
            if store.requeue_expired(job_id, idx, now):
                store.record_chunk_messages(job_id, {idx: queue.send_chunk(job_id, idx, front=True)}, time.time())
                out.expired.append((job_id, idx))
                logger.warning("job %s chunk %d: lease expired (worker gone); sent again", job_id, idx)
        # Waiting longer than a lease: never sent, or the broker no longer has the message, or a very old send.
        chunks = store.waiting_chunks(now, s.jobs_lease_s, every=resend_all)
        jobs = store.waiting_jobs(now, s.jobs_lease_s, every=resend_all)
        lost = queue.lost([w.message_id for w in chunks + jobs if w.message_id])
        for w in chunks:
            assert w.idx is not None
            if self._due(w, now, lost, resend_all) and store.set_chunk_enqueued(w.job_id, w.idx, now, w.enqueued_at):
                sent = queue.send_chunk(w.job_id, w.idx, front=True)
                store.record_chunk_messages(w.job_id, {w.idx: sent}, time.time())
                out.resent.append((w.job_id, w.idx))
        for w in jobs:
            if self._due(w, now, lost, resend_all) and store.requeue_prepare(w.job_id, now, w.enqueued_at):
                store.record_job_message(w.job_id, queue.send_prepare(w.job_id), time.time())
                out.prepares.append(w.job_id)
        for job_id in self.store.finishable_jobs():
            if self.finalize(job_id):
                out.finished.append(job_id)
        pii_ttl = min(s.jobs_pii_result_ttl_s, s.jobs_result_ttl_s)  # raw personal data goes sooner
        for job_id in self.store.expired_results(now - s.jobs_result_ttl_s, now - pii_ttl):
            self.files.delete_job(job_id)
            self.store.mark_purged(job_id, now)
            out.purged.append(job_id)
        if out.resent or out.prepares or out.finished:
            logger.info(
                "reaper: %d chunk(s) and %d prepare(s) sent again, %d job(s) finished",
                len(out.resent),
                len(out.prepares),
                len(out.finished),
            )
        return out

    def reap_dead_workers(self) -> ReapResult:
        """Send again, to the front, the running chunks and prepares of workers whose heartbeat stopped."""
        out = ReapResult()
        self._reap_dead_workers(out)
        return out

    def _reap_dead_workers(self, out: ReapResult) -> None:
        if self.heartbeats is None:
            return
        try:
            dead = self.heartbeats.dead()
        except Exception as exc:  # Redis away: the leases still expire
            logger.warning("reaper: worker heartbeats unknown (%s)", type(exc).__name__)
            return
        for owner in dead:
            now = time.time()
            for job_id, idx in self.store.requeue_chunks_of(owner, now):
                sent = self.queue.send_chunk(job_id, idx, front=True)
                self.store.record_chunk_messages(job_id, {idx: sent}, time.time())
                out.orphaned.append((job_id, idx))
                logger.warning("job %s chunk %d: worker %s stopped beating (gone); sent again", job_id, idx, owner)
            for job_id in self.store.requeue_prepares_of(owner, now):
                self.store.record_job_message(job_id, self.queue.send_prepare(job_id), time.time())
                out.prepares.append(job_id)
                logger.warning("job %s: worker %s stopped beating while preparing; sent again", job_id, owner)
            self.heartbeats.forget(owner)  # after its work was sent: a reaper dying in between leaves it listed

    def _due(self, w: Waiting, now: float, lost: set[str], resend_all: bool) -> bool:
        if resend_all or w.abandoned or w.enqueued_at is None:
            return True
        if w.message_id is not None and w.message_id in lost:
            return True
        return w.enqueued_at < now - self.settings.jobs_requeue_after_s

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tousu-reaper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_pass = time.monotonic() + self._next_wait()
        while True:
            wait = next_pass - time.monotonic()
            if self.heartbeats is not None:  # between passes, look for dead workers every quarter TTL
                wait = min(wait, self.heartbeats.check_s)
            if self._stop.wait(max(wait, 0.0)):
                return
            try:
                if time.monotonic() >= next_pass:
                    self.run_once()
                else:
                    self.reap_dead_workers()
            except Exception as exc:
                logger.error("reaper pass failed: %s", type(exc).__name__, exc_info=True)
            finally:
                if time.monotonic() >= next_pass:
                    next_pass = time.monotonic() + self._next_wait()

    def _next_wait(self) -> float:
        """Seconds to the next pass: the interval (with jitter, so that reapers do not march in step), or
        less when a running chunk's lease runs out sooner, so a killed worker's chunk is sent again as its
        lease ends rather than up to one interval later."""
        wait = self.settings.jobs_reaper_interval_s * random.uniform(0.8, 1.2)
        try:
            expiry = self.store.next_lease_expiry()
        except Exception as exc:
            logger.warning("reaper: next lease expiry unknown (%s)", type(exc).__name__)
            return wait
        if expiry is not None:
            wait = min(wait, max(expiry - time.time() + LEASE_GRACE_S, LEASE_GRACE_S))
        return wait

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
