"""What the ``/v1/jobs`` routes call: create, describe, cancel a job, and find its results and report.

Methods are synchronous (database and file work); the routes run them in a thread.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from service.errors import ApiError, ErrorType
from service.jobs.db import CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, TERMINAL, JobRow
from service.jobs.files import JobFiles
from service.jobs.queue import JobQueue
from service.jobs.records import Format, InputError, sniff
from service.jobs.schemas import JobCounts, JobReport, JobSourceRequest, JobStatus
from service.jobs.store import JobStore, Progress
from service.schemas import AnalyzeOptions
from service.settings import Settings

logger = logging.getLogger(__name__)


def new_job_id() -> str:
    return uuid.uuid4().hex


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def parse_options(raw: dict[str, Any]) -> dict[str, Any]:
    """The same per-message options as ``/v1/analyze`` (unknown keys refused); ``cache`` has no meaning here."""
    try:
        options = AnalyzeOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise ApiError(ErrorType.UNKNOWN_OPTION, f"unknown option: {loc}") from None
        raise ApiError(ErrorType.VALIDATION, f"option {loc}: {first['msg']}") from None
    return options.model_dump(exclude={"cache"})


class JobService:
    def __init__(self, settings: Settings, store: JobStore, files: JobFiles, queue: JobQueue) -> None:
        self.settings = settings
        self.store = store
        self.files = files
        self.queue = queue

    # -- creation ----------------------------------------------------------------------------------
    def check_upload(self, job_id: str, declared: Format | None) -> Format:
        """Refuse an upload that cannot work (corrupt gzip, CSV without ``text``) before accepting it."""
        try:
            return sniff(self.files.input_path(job_id), declared, self.settings.jobs_max_input_bytes)
        except InputError as exc:
            self.files.delete_job(job_id)
            raise ApiError(ErrorType.INVALID_UPLOAD, str(exc)) from None

    def accept(
        self,
        job_id: str,
        kind: str,
        source: str | None,
        fmt: Format | None,
        dataset: str | None,
        options: dict[str, Any],
        tenant: str | None = None,
        max_active: int = 0,
    ) -> JobStatus:
        """Record the job and send its prepare; ``max_active``: the tenant's concurrent-jobs quota, checked
        again here, atomically with the insert (the route's early check ran before a long upload)."""
        now = time.time()
        job = JobRow(
            id=job_id,
            tenant=tenant,
            pii=bool(options.get("include_pii")),
            dataset=dataset,
            state=QUEUED,
            source_kind=kind,
            source=source,
            input_format=fmt,
            options=options,
            chunk_size=self.settings.jobs_chunk_size,
            created_at=now,
        )
        # first: a crash before the send leaves a job the reaper sends
        if not self.store.create_job(job, max_active):
            assert tenant is not None
            raise ApiError(
                ErrorType.RATE_LIMITED,
                f"{max_active} jobs of this key are queued or running; the limit is {max_active}",
                {"Retry-After": "30"},
                limit="concurrent_jobs",
            )
        try:
            self.store.record_job_message(job_id, self.queue.send_prepare(job_id), time.time())
        except Exception as exc:  # the job and its input are stored: the reaper sends it when the queue is back
            logger.warning("job %s accepted but not sent yet (%s); the reaper will send it", job_id, type(exc).__name__)
        return self._status(job, None)

    def active_jobs(self, tenant: str) -> int:
        return self.store.active_jobs(tenant)

    def create_from_source(
        self, request: JobSourceRequest, tenant: str | None = None, max_active: int = 0
    ) -> JobStatus:
        options = parse_options(request.options)
        if (request.path is None) == (request.url is None):
            raise ApiError(ErrorType.VALIDATION, "give exactly one of 'path' and 'url'")
        job_id = new_job_id()
        if request.path is not None:
            path = self._allowed_path(request.path)
            try:
                fmt: Format | None = sniff(path, request.format, self.settings.jobs_max_input_bytes)
            except InputError as exc:
                raise ApiError(ErrorType.INVALID_UPLOAD, str(exc)) from None
            except OSError as exc:  # unreadable (permissions, a directory race): the caller's file, not our fault
                raise ApiError(ErrorType.INVALID_UPLOAD, f"cannot read the file: {exc.strerror or 'error'}") from None
            return self.accept(job_id, "path", str(path), fmt, request.dataset, options, tenant, max_active)
        url = self._allowed_url(request.url or "")
        return self.accept(job_id, "url", url, request.format, request.dataset, options, tenant, max_active)

    def _allowed_path(self, raw: str) -> Path:
        root = self.settings.jobs_import_dir
        if root is None:
            raise ApiError(ErrorType.SOURCE_NOT_ALLOWED, "path sources are disabled (set TOUSU_JOBS_IMPORT_DIR)")
        root = root.resolve()
        try:
            path = Path(raw)
            path = (path if path.is_absolute() else root / path).resolve()
        except (ValueError, OSError):  # a NUL byte, a symlink loop
            raise ApiError(ErrorType.VALIDATION, "path is not a valid file path") from None
        if not path.is_relative_to(root):
            raise ApiError(ErrorType.SOURCE_NOT_ALLOWED, "the path is outside the import directory")
        if not path.is_file():
            raise ApiError(ErrorType.INVALID_UPLOAD, "no such file in the import directory")
        return path

    def _allowed_url(self, url: str) -> str:
        import httpx

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiError(ErrorType.VALIDATION, "url must be an http(s) URL")
        try:
            httpx.URL(url)  # what the worker will fetch must parse (no control characters, a valid host)
        except httpx.InvalidURL:
            raise ApiError(ErrorType.VALIDATION, "url is not a valid URL") from None
        prefixes = self.settings.jobs_url_prefixes
        if not prefixes:
            raise ApiError(ErrorType.SOURCE_NOT_ALLOWED, "url sources are disabled (set TOUSU_JOBS_URL_PREFIXES)")
        if not any(url.startswith(p) for p in prefixes):
            raise ApiError(ErrorType.SOURCE_NOT_ALLOWED, "the url is not under an allowed prefix")
        return url

    # -- reading -----------------------------------------------------------------------------------
    def _job(self, job_id: str, tenant: str | None) -> JobRow:
        """The job if ``tenant`` may see it (None: the service runs without keys); another tenant's job is a 404
        like a job that does not exist, so ids cannot be probed."""
        job = self.store.get_job(job_id) if job_id.isalnum() and len(job_id) <= 32 else None
        if job is None or (tenant is not None and job.tenant != tenant):
            raise ApiError(ErrorType.NOT_FOUND, "no such job")
        return job

    def status(self, job_id: str, tenant: str | None = None) -> JobStatus:
        job = self._job(job_id, tenant)
        return self._status(job, self.store.progress(job_id) if job.total is not None else None)

    def recent(self, dataset: str | None, limit: int, tenant: str | None = None) -> list[JobStatus]:
        jobs = self.store.list_jobs(dataset, limit, tenant)
        progress = self.store.progress_many([j.id for j in jobs])
        return [self._status(job, progress.get(job.id)) for job in jobs]

    def _status(self, job: JobRow, progress: Progress | None) -> JobStatus:
        done = progress.done if progress else 0
        failed = progress.failed if progress else 0
        processed = done + failed
        total = job.total
        ratio = processed / total if total else (1.0 if job.state == COMPLETED else 0.0)
        rate = eta = None
        if job.prepared_at is not None and processed:
            end = job.finished_at if job.state in TERMINAL and job.finished_at else time.time()
            rate = processed / max(end - job.prepared_at, 1e-3)
            if job.state == RUNNING and total is not None:
                eta = round((total - processed) / rate, 1)
            rate = round(rate, 2)
        base = f"/v1/jobs/{job.id}"
        return JobStatus(
            id=job.id,
            state=job.state,  # type: ignore[arg-type]
            dataset=job.dataset,
            source=job.source_kind,  # type: ignore[arg-type]
            format=job.input_format,
            options=job.options,
            created_at=datetime.fromtimestamp(job.created_at, UTC),
            prepared_at=_dt(job.prepared_at),
            finished_at=_dt(job.finished_at),
            counts=JobCounts(
                total=total, done=done, failed=failed, pending=None if total is None else total - processed
            ),
            progress=round(min(ratio, 1.0), 4),
            rate_per_s=rate,
            eta_s=eta,
            error=job.error,
            links={"self": base, "results": base + "/results", "report": base + "/report"},
        )

    def _finished(self, job: JobRow) -> None:
        if job.state == COMPLETED:
            if job.purged_at is not None:
                raise ApiError(ErrorType.RESULTS_EXPIRED, "the results of this job were deleted (retention)")
            return
        if job.state in (FAILED, CANCELLED):
            raise ApiError(ErrorType.JOB_NOT_FINISHED, f"the job {job.state}; it has no results")
        raise ApiError(ErrorType.JOB_NOT_FINISHED, f"the job is {job.state}", {"Retry-After": "10"})

    def result_outputs(self, job_id: str, tenant: str | None = None) -> list[str]:
        job = self._job(job_id, tenant)
        self._finished(job)
        return [c.output or "" for c in self.store.chunks(job_id)]

    def report(self, job_id: str, tenant: str | None = None) -> JobReport:
        job = self._job(job_id, tenant)
        if job.state != COMPLETED or job.report is None:
            self._finished(job)
        return JobReport.model_validate(job.report)

    # -- cancel ------------------------------------------------------------------------------------
    def cancel(self, job_id: str, tenant: str | None = None) -> JobStatus:
        job = self._job(job_id, tenant)
        if job.state in (COMPLETED, FAILED):
            raise ApiError(ErrorType.JOB_FINISHED, f"the job already {job.state}")
        if self.store.cancel_job(job_id, time.time()):
            self.files.delete_job(job_id)  # inputs and partial results: nothing of a cancelled job is kept
        return self.status(job_id, tenant)
