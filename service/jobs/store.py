"""Every read and write of job metadata, as small transactions.

The once-only transitions are single conditional UPDATEs: ``claim_chunk`` (queued, or running
with an expired lease -> running), ``complete_chunk`` (not done -> done: the chunk checkpoint),
``finish_job`` (running with every chunk done -> completed) and the reaper's re-sends, which
compare-and-set ``enqueued_at`` so that of several reapers only one sends a message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Engine,
    Exists,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from service.jobs.db import (
    CANCELLED,
    CHUNK_DONE,
    CHUNK_QUEUED,
    CHUNK_RUNNING,
    CHUNK_SKIPPED,
    COMPLETED,
    DEFAULT_DB,
    FAILED,
    QUEUED,
    RUNNING,
    ChunkRow,
    JobRow,
    create_schema,
    database_url,
    make_engine,
)
from service.jobs.files import FILE_MODE, make_private_dirs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkPlan:
    idx: int
    first: int
    size: int


@dataclass(frozen=True)
class Waiting:
    """A chunk (or, with ``idx`` None, a job's prepare) waiting for a worker: was its message lost?"""

    job_id: str
    idx: int | None
    enqueued_at: float | None
    message_id: str | None
    abandoned: bool  # a prepare whose worker's lease ran out


@dataclass(frozen=True)
class Progress:
    done: int
    failed: int
    chunks_done: int


def _rows(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._quota_lock = threading.Lock()

    @classmethod
    def open(cls, url: str | None, jobs_dir: Path) -> JobStore:
        if url is None:
            make_private_dirs(jobs_dir)
        engine = make_engine(database_url(url, jobs_dir))
        create_schema(engine)
        if url is None:  # SQLite: the database names datasets and holds reports; its -wal/-shm files follow its mode
            with contextlib.suppress(FileNotFoundError):
                os.chmod(jobs_dir / DEFAULT_DB, FILE_MODE)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _job_is(self, job_id: str, state: str) -> Any:
        return exists().where(JobRow.id == job_id, JobRow.state == state)

    # -- jobs --------------------------------------------------------------------------------------
    def create_job(self, job: JobRow, max_active: int = 0) -> bool:
        """Insert the job; with ``max_active`` (and a tenant), only if the tenant has fewer queued or running
        jobs, counted and inserted in one transaction: a PostgreSQL advisory lock per tenant serialises API
        processes, a lock serialises this process's threads (SQLite is one machine's database)."""
        if max_active <= 0 or job.tenant is None:
            with self._session() as s, s.begin():
                s.add(job)
            return True
        with self._quota_lock, self._session() as s, s.begin():
            if s.get_bind().dialect.name == "postgresql":
                s.execute(select(func.pg_advisory_xact_lock(func.hashtext("tousu-jobs:" + job.tenant))))
            active = JobRow.state.in_((QUEUED, RUNNING))
            count = s.scalar(select(func.count()).select_from(JobRow).where(JobRow.tenant == job.tenant, active))
            if int(count or 0) >= max_active:
                return False
            s.add(job)
        return True

    def get_job(self, job_id: str) -> JobRow | None:
        with self._session() as s:
            return s.get(JobRow, job_id)

    def list_jobs(self, dataset: str | None, limit: int, tenant: str | None = None) -> list[JobRow]:
        """Newest first; ``tenant``: only that tenant's jobs (None: every job, the service runs without keys)."""
        with self._session() as s:
            q = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
            if dataset is not None:
                q = q.where(JobRow.dataset == dataset)
            if tenant is not None:
                q = q.where(JobRow.tenant == tenant)
            return list(s.scalars(q))

    def active_jobs(self, tenant: str) -> int:
        """Queued and running jobs of a tenant (its concurrent-jobs quota)."""
        with self._session() as s:
            active = JobRow.state.in_((QUEUED, RUNNING))
            q = select(func.count()).select_from(JobRow).where(JobRow.tenant == tenant, active)
            return int(s.scalar(q) or 0)

    def requeue_prepare(self, job_id: str, now: float, seen: float | None) -> bool:
        """Re-send a prepare (never sent, or its worker died): frees an expired lease in the same update."""
        same = JobRow.enqueued_at.is_(None) if seen is None else JobRow.enqueued_at == seen
        free = or_(JobRow.prepare_lease_until.is_(None), JobRow.prepare_lease_until < now)
        stmt = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == QUEUED, same, free)
            .values(enqueued_at=now, prepare_owner=None, prepare_lease_until=None)
        )
        with self.engine.begin() as c:
            return _rows(c.execute(stmt)) == 1

    def _claim(self, job_id: str, state: str, owner: str, lease_s: float, now: float) -> bool:
        """The job's claim (``prepare_owner`` / ``prepare_lease_until``) in ``state``, if free or run out."""
        free = or_(JobRow.prepare_lease_until.is_(None), JobRow.prepare_lease_until < now)
        stmt = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == state, free)
            .values(prepare_owner=owner, prepare_lease_until=now + lease_s)
        )
        with self.engine.begin() as c:
            return _rows(c.execute(stmt)) == 1

    def _extend(self, job_id: str, state: str, owner: str, until: float) -> bool:
        stmt = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == state, JobRow.prepare_owner == owner)
            .values(prepare_lease_until=until)
        )
        with self.engine.begin() as c:
            return _rows(c.execute(stmt)) == 1

    def claim_prepare(self, job_id: str, owner: str, lease_s: float, now: float) -> bool:
        return self._claim(job_id, QUEUED, owner, lease_s, now)

    def extend_prepare(self, job_id: str, owner: str, until: float) -> bool:
        return self._extend(job_id, QUEUED, owner, until)

    def claim_finish(self, job_id: str, owner: str, lease_s: float, now: float) -> bool:
        """The right to finish a running job (every chunk done): one finisher at a time, taken over only when
        its lease ran out (a finisher that died), so reapers do not fit the dataset's topics beside it."""
        return self._claim(job_id, RUNNING, owner, lease_s, now)

    def extend_finish(self, job_id: str, owner: str, until: float) -> bool:
        return self._extend(job_id, RUNNING, owner, until)

    def release_finish(self, job_id: str, owner: str) -> None:
        stmt = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == RUNNING, JobRow.prepare_owner == owner)
            .values(prepare_owner=None, prepare_lease_until=None)
        )
        with self.engine.begin() as c:
            c.execute(stmt)

    def start_running(
        self, job_id: str, owner: str, fmt: str, total: int, plans: Sequence[ChunkPlan], now: float
    ) -> bool:
        """Chunks and the running state in one transaction: a prepare re-run after a crash starts clean."""
        with self._session() as s, s.begin():
            won = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == QUEUED, JobRow.prepare_owner == owner)
                .values(
                    state=RUNNING,
                    input_format=fmt,
                    total=total,
                    n_chunks=len(plans),
                    prepared_at=now,
                    prepare_owner=None,
                    prepare_lease_until=None,
                )
                .execution_options(synchronize_session=False)
            )
            if _rows(won) != 1:
                return False
            s.execute(delete(ChunkRow).where(ChunkRow.job_id == job_id).execution_options(synchronize_session=False))
            s.add_all(
                ChunkRow(job_id=job_id, idx=p.idx, first=p.first, size=p.size, state=CHUNK_QUEUED, attempts=0)
                for p in plans
            )
        return True

    def fail_job(self, job_id: str, error: str, now: float) -> bool:
        stmt = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state.in_((QUEUED, RUNNING)))
            .values(state=FAILED, error=error[:1000], finished_at=now, prepare_owner=None, prepare_lease_until=None)
        )
        with self.engine.begin() as c:
            return _rows(c.execute(stmt)) == 1

    def cancel_job(self, job_id: str, now: float) -> bool:
        """Cancel, and skip every chunk not done, running ones included: their workers lose the lease at the
        next renewal and their results can no longer count (``complete_chunk`` needs a running job)."""
        with self.engine.begin() as c:
            won = c.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state.in_((QUEUED, RUNNING)))
                .values(state=CANCELLED, finished_at=now)
            )
            if _rows(won) != 1:
                return False
            c.execute(
                update(ChunkRow)
                .where(ChunkRow.job_id == job_id, ChunkRow.state.in_((CHUNK_QUEUED, CHUNK_RUNNING)))
                .values(state=CHUNK_SKIPPED, finished_at=now, owner=None, lease_until=None)
            )
            return True

    @staticmethod
    def _unfinished(job_id: str) -> Exists:
        return exists().where(ChunkRow.job_id == job_id, ChunkRow.state != CHUNK_DONE)

    def all_chunks_done(self, job_id: str) -> bool:
        """True when no chunk of the job is left to run (one EXISTS query; no aggregates loaded)."""
        with self._session() as s:
            return not s.scalar(select(self._unfinished(job_id)))

    def finish_job(self, job_id: str, report: dict[str, Any], versions: dict[str, str], now: float) -> bool:
        unfinished = self._unfinished(job_id)
        with self.engine.begin() as c:
            won = c.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == RUNNING, ~unfinished)
                .values(
                    state=COMPLETED,
                    report=report,
                    model_versions=versions,
                    finished_at=now,
                    prepare_owner=None,
                    prepare_lease_until=None,
                )
            )
            if _rows(won) != 1:
                return False
            # The merged aggregate now lives in the report; per-chunk copies only cost space.
            c.execute(update(ChunkRow).where(ChunkRow.job_id == job_id).values(aggregate=None))
            return True

    def previous_report(self, dataset: str, created_at: float, job_id: str) -> dict[str, Any] | None:
        """The report of the dataset's last completed job created before this one."""
        reports = self.recent_reports(dataset, created_at, job_id, limit=1)
        return reports[0] if reports else None

    def recent_reports(self, dataset: str, created_at: float, job_id: str, limit: int = 8) -> list[dict[str, Any]]:
        """Reports of the dataset's completed jobs created before this one, newest first (topic history)."""
        with self._session() as s:
            rows = s.execute(
                select(JobRow.report)
                .where(
                    JobRow.dataset == dataset,
                    JobRow.state == COMPLETED,
                    JobRow.created_at < created_at,
                    JobRow.id != job_id,
                    JobRow.report.is_not(None),
                )
                .order_by(JobRow.created_at.desc())
                .limit(limit)
            ).all()
            return [cast(dict[str, Any], r[0]) for r in rows]

    def mark_purged(self, job_id: str, now: float) -> None:
        with self.engine.begin() as c:
            c.execute(update(JobRow).where(JobRow.id == job_id).values(purged_at=now))

    # -- chunks ------------------------------------------------------------------------------------
    def claim_chunk(self, job_id: str, idx: int, owner: str, lease_s: float, now: float) -> int | None:
        """Take the chunk if it is queued or its lease ran out; returns the attempt number, or None."""
        claimable = or_(
            ChunkRow.state == CHUNK_QUEUED,
            and_(ChunkRow.state == CHUNK_RUNNING, ChunkRow.lease_until < now),
        )
        stmt = (
            update(ChunkRow)
            .where(ChunkRow.job_id == job_id, ChunkRow.idx == idx, claimable, self._job_is(job_id, RUNNING))
            .values(
                state=CHUNK_RUNNING,
                owner=owner,
                lease_until=now + lease_s,
                attempts=ChunkRow.attempts + 1,
                started_at=now,
            )
            .returning(ChunkRow.attempts)
        )
        with self.engine.begin() as c:
            attempt = c.execute(stmt).scalar_one_or_none()
            return None if attempt is None else int(attempt)

    def extend_chunk(self, job_id: str, idx: int, owner: str, until: float) -> bool:
        """Renew the lease; False when another worker took the chunk over or the job was cancelled."""
        stmt = (
            update(ChunkRow)
            .where(
                ChunkRow.job_id == job_id,
                ChunkRow.idx == idx,
                ChunkRow.owner == owner,
                ChunkRow.state == CHUNK_RUNNING,
                self._job_is(job_id, RUNNING),
            )
            .values(lease_until=until)
        )
        with self.engine.begin() as c:
            return _rows(c.execute(stmt)) == 1

    def release_chunk(self, job_id: str, idx: int, owner: str) -> None:
        """Give a chunk back at once (worker shutting down) instead of letting its lease expire."""
        with self.engine.begin() as c:
            c.execute(
                update(ChunkRow)
                .where(ChunkRow.job_id == job_id, ChunkRow.idx == idx, ChunkRow.owner == owner)
                .where(ChunkRow.state == CHUNK_RUNNING)
                .values(state=CHUNK_QUEUED, owner=None, lease_until=None, enqueued_at=None)
            )

    def complete_chunk(
        self, job_id: str, idx: int, analyzed: int, failed: int, output: str, aggregate: dict[str, Any], now: float
    ) -> bool:
        """The checkpoint: the first run to get here counts; a later duplicate run changes nothing."""
        stmt = (
            update(ChunkRow)
            .where(
                ChunkRow.job_id == job_id,
                ChunkRow.idx == idx,
                ChunkRow.state.in_((CHUNK_QUEUED, CHUNK_RUNNING)),
                self._job_is(job_id, RUNNING),
            )
            .values(
                state=CHUNK_DONE,
                analyzed=analyzed,
                failed=failed,
                output=output,
                aggregate=aggregate,
                finished_at=now,
                owner=None,
                lease_until=None,
            )
        )
        with self.engine.begin() as c:
            return _rows(c.execute(stmt)) == 1

    def skip_chunk(self, job_id: str, idx: int, now: float) -> None:
        """A chunk of a cancelled or failed job."""
        with self.engine.begin() as c:
            c.execute(
                update(ChunkRow)
                .where(ChunkRow.job_id == job_id, ChunkRow.idx == idx, ChunkRow.state != CHUNK_DONE)
                .values(state=CHUNK_SKIPPED, finished_at=now, owner=None, lease_until=None)
            )

    def chunks(self, job_id: str) -> list[ChunkRow]:
        with self._session() as s:
            return list(s.scalars(select(ChunkRow).where(ChunkRow.job_id == job_id).order_by(ChunkRow.idx)))

    def progress(self, job_id: str) -> Progress:
        done_chunks = func.sum(case((ChunkRow.state == CHUNK_DONE, 1), else_=0))
        with self._session() as s:
            row = s.execute(
                select(
                    func.coalesce(func.sum(ChunkRow.analyzed), 0),
                    func.coalesce(func.sum(ChunkRow.failed), 0),
                    func.coalesce(done_chunks, 0),
                ).where(ChunkRow.job_id == job_id)
            ).one()
            return Progress(int(row[0]), int(row[1]), int(row[2]))

    def progress_many(self, job_ids: list[str]) -> dict[str, Progress]:
        done_chunks = func.sum(case((ChunkRow.state == CHUNK_DONE, 1), else_=0))
        with self._session() as s:
            rows = s.execute(
                select(ChunkRow.job_id, func.sum(ChunkRow.analyzed), func.sum(ChunkRow.failed), done_chunks)
                .where(ChunkRow.job_id.in_(job_ids))
                .group_by(ChunkRow.job_id)
            ).all()
            return {r[0]: Progress(int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)) for r in rows}

    # -- reaper queries ----------------------------------------------------------------------------
    def expired_chunks(self, now: float, limit: int = 1000) -> list[tuple[str, int]]:
        """Running chunks of running jobs whose worker stopped renewing the lease (killed, hung, lost)."""
        with self._session() as s:
            rows = s.execute(
                select(ChunkRow.job_id, ChunkRow.idx)
                .join(JobRow, JobRow.id == ChunkRow.job_id)
                .where(ChunkRow.state == CHUNK_RUNNING, ChunkRow.lease_until < now, JobRow.state == RUNNING)
                .limit(limit)
            ).all()
            return [(r[0], int(r[1])) for r in rows]

    def next_lease_expiry(self) -> float | None:
        """When the first lease of a running chunk runs out (None: no chunk is running)."""
        with self._session() as s:
            value = s.execute(
                select(func.min(ChunkRow.lease_until)).where(
                    ChunkRow.state == CHUNK_RUNNING, ChunkRow.lease_until.is_not(None)
                )
            ).scalar()
            return None if value is None else float(value)

    def requeue_expired(self, job_id: str, idx: int, now: float) -> bool:
        stmt = (
            update(ChunkRow)
            .where(
                ChunkRow.job_id == job_id,
                ChunkRow.idx == idx,
                ChunkRow.state == CHUNK_RUNNING,
                ChunkRow.lease_until < now,
            )
            .values(state=CHUNK_QUEUED, owner=None, lease_until=None, enqueued_at=now)
        )
        with self.engine.begin() as c:
            return _rows(c.execute(stmt)) == 1

    def requeue_chunks_of(self, owner: str, now: float) -> list[tuple[str, int]]:
        """Running chunks of running jobs held by ``owner`` (a worker whose heartbeat stopped) back to queued,
        whatever their lease says; returns them. One conditional UPDATE: of several reapers, one gets them."""
        running_jobs = select(JobRow.id).where(JobRow.state == RUNNING)
        stmt = (
            update(ChunkRow)
            .where(ChunkRow.owner == owner, ChunkRow.state == CHUNK_RUNNING, ChunkRow.job_id.in_(running_jobs))
            .values(state=CHUNK_QUEUED, owner=None, lease_until=None, enqueued_at=now)
            .returning(ChunkRow.job_id, ChunkRow.idx)
        )
        with self.engine.begin() as c:
            return sorted((r[0], int(r[1])) for r in c.execute(stmt).all())

    def requeue_prepares_of(self, owner: str, now: float) -> list[str]:
        """Prepares held by ``owner`` (a worker whose heartbeat stopped) freed for another worker; returns the jobs."""
        stmt = (
            update(JobRow)
            .where(JobRow.prepare_owner == owner, JobRow.state == QUEUED)
            .values(enqueued_at=now, prepare_owner=None, prepare_lease_until=None)
            .returning(JobRow.id)
        )
        with self.engine.begin() as c:
            return sorted(str(r[0]) for r in c.execute(stmt).all())

    def waiting_chunks(self, now: float, grace_s: float, every: bool = False, limit: int = 5000) -> list[Waiting]:
        """Queued chunks of running jobs last sent (or split, if never sent) over ``grace_s`` ago; ``every``: all."""
        due: Any = true() if every else func.coalesce(ChunkRow.enqueued_at, JobRow.prepared_at) < now - grace_s
        with self._session() as s:
            rows = s.execute(
                select(ChunkRow.job_id, ChunkRow.idx, ChunkRow.enqueued_at, ChunkRow.message_id)
                .join(JobRow, JobRow.id == ChunkRow.job_id)
                .where(ChunkRow.state == CHUNK_QUEUED, JobRow.state == RUNNING, due)
                .order_by(JobRow.created_at, ChunkRow.idx)
                .limit(limit)
            ).all()
            return [Waiting(r[0], int(r[1]), r[2], r[3], False) for r in rows]

    def set_chunk_enqueued(self, job_id: str, idx: int, now: float, seen: float | None) -> bool:
        """Compare-and-set of a chunk's send time: of several reapers, one re-sends."""
        same = ChunkRow.enqueued_at.is_(None) if seen is None else ChunkRow.enqueued_at == seen
        stmt = (
            update(ChunkRow)
            .where(ChunkRow.job_id == job_id, ChunkRow.idx == idx, ChunkRow.state == CHUNK_QUEUED, same)
            .values(enqueued_at=now)
        )
        with self.engine.begin() as c:
            return _rows(c.execute(stmt)) == 1

    def record_chunk_messages(self, job_id: str, ids: dict[int, str | None], now: float) -> None:
        """After sending: when, and under which broker id (so that a lost message can be noticed)."""
        if not ids:
            return
        stmt = (
            update(ChunkRow)
            .where(ChunkRow.job_id == job_id, ChunkRow.idx == bindparam("b_idx"))
            .values(enqueued_at=now, message_id=bindparam("b_mid"))
        )
        with self.engine.begin() as c:
            c.execute(stmt, [{"b_idx": idx, "b_mid": mid} for idx, mid in ids.items()])

    def record_job_message(self, job_id: str, message_id: str | None, now: float) -> None:
        with self.engine.begin() as c:
            c.execute(update(JobRow).where(JobRow.id == job_id).values(enqueued_at=now, message_id=message_id))

    def waiting_jobs(self, now: float, grace_s: float, every: bool = False) -> list[Waiting]:
        """Queued jobs nobody is preparing, last sent (or created) over ``grace_s`` ago, or whose preparer died."""
        abandoned = JobRow.prepare_lease_until < now
        free = or_(JobRow.prepare_owner.is_(None), abandoned)
        due: Any = true() if every else func.coalesce(JobRow.enqueued_at, JobRow.created_at) < now - grace_s
        with self._session() as s:
            rows = s.execute(
                select(JobRow.id, JobRow.enqueued_at, JobRow.message_id, JobRow.prepare_owner.is_not(None))
                .where(JobRow.state == QUEUED, free, or_(due, abandoned))
                .order_by(JobRow.created_at)
            ).all()
            return [Waiting(r[0], None, r[1], r[2], bool(r[3])) for r in rows]

    def finishable_jobs(self) -> list[str]:
        """Running jobs with every chunk done: their last worker died before writing the report."""
        unfinished = exists().where(ChunkRow.job_id == JobRow.id, ChunkRow.state != CHUNK_DONE)
        with self._session() as s:
            return list(s.scalars(select(JobRow.id).where(JobRow.state == RUNNING, ~unfinished)))

    def expired_results(self, before: float, pii_before: float | None = None) -> list[str]:
        """Ended jobs whose files are still there: ended before ``before``, or, with personal data in their
        results (``include_pii``), before ``pii_before``."""
        ended = JobRow.finished_at < before
        if pii_before is not None:
            ended = or_(ended, and_(JobRow.pii.is_(True), JobRow.finished_at < pii_before))
        with self._session() as s:
            return list(
                s.scalars(
                    select(JobRow.id).where(
                        JobRow.state.in_((COMPLETED, FAILED, CANCELLED)), ended, JobRow.purged_at.is_(None)
                    )
                )
            )
