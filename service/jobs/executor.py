"""The work itself: split a job's input into chunks, analyse one chunk, finish a job.

Each handler may run more than once for the same message (at-least-once queues, the reaper,
two workers racing after a lease expired); the database decides which run counts:

- ``prepare`` claims the job with a lease, writes every chunk input file (same names and content
  on a re-run) and inserts the chunk rows in the transaction that moves the job to ``running``;
- ``run_chunk`` claims the chunk with a lease it renews while it works, writes its results to a
  file of its own and makes them count with one conditional UPDATE (``complete_chunk``): a
  second run of a finished chunk changes nothing, a run that loses the race deletes its file;
- ``finalize`` merges the chunk aggregates in chunk order, writes the report and moves the job
  to ``completed`` once, then deletes the inputs.

Logs carry job ids, chunk numbers, counts and exception types, never message text.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import numpy as np
import orjson
from pydantic import ValidationError

from models.encoder import FloatArray
from models.pipeline import ANALYSIS_FAILED, AnalysisFailure, AnalysisInput, Analyzer
from models.schema import Analysis
from service.jobs.aggregate import Aggregate
from service.jobs.db import CANCELLED, CHUNK_DONE, FAILED, QUEUED, RUNNING, JobRow
from service.jobs.files import JobFiles
from service.jobs.queue import JobQueue
from service.jobs.records import BadRecord, Format, InputError, Record, read_records, record_from_json, sniff
from service.jobs.report import build_report
from service.jobs.store import ChunkPlan, JobStore
from service.jobs.topics import AnalysedHook as AnalysedHook  # the hooks' type, used by runtime.py and tests
from service.jobs.topics import DatasetTopicFitter, embeddings_path
from service.settings import Settings

logger = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseKeeper:
    """Renews a lease from a background thread while work runs, and tells the work when to stop.

    ``lost`` becomes true when a renewal is refused (the job was cancelled, or the lease expired and
    another worker took over). Renewal stops after ``max_s`` so that a hung run is eventually
    handed to someone else.
    """

    def __init__(
        self, renew: Callable[[float], bool], lease_s: float, max_s: float, stop: threading.Event | None = None
    ) -> None:
        self._renew = renew
        self.lease_s = lease_s
        self.max_s = max_s
        self.lost = False
        self._external_stop = stop
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tousu-lease", daemon=True)

    @property
    def stopping(self) -> bool:
        return self._external_stop is not None and self._external_stop.is_set()

    def should_stop(self) -> bool:
        return self.lost or self.stopping

    def __enter__(self) -> LeaseKeeper:
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._done.wait(self.lease_s / 3):
            if time.monotonic() - self._start > self.max_s:
                logger.warning("work has run over %.0fs; no longer renewing its lease", self.max_s)
                return
            try:
                if not self._renew(time.time() + self.lease_s):
                    self.lost = True
                    return
            except Exception as exc:  # a database hiccup: try again at the next tick
                logger.warning("lease renewal failed (%s)", type(exc).__name__)


class DownloadError(InputError):
    pass


class JobExecutor:
    def __init__(
        self,
        store: JobStore,
        files: JobFiles,
        queue: JobQueue,
        settings: Settings,
        analyzer: Analyzer | None = None,
        owner: str | None = None,
        stop: threading.Event | None = None,
        on_analysed: AnalysedHook | None = None,  # every analysed record of a chunk, before its checkpoint
        on_relabelled: AnalysedHook | None = None,
    ) -> None:
        self.store = store
        self.files = files
        self.queue = queue
        self.settings = settings
        self.analyzer = analyzer
        self.owner = owner or worker_id()
        self.stop = stop
        self.on_analysed = on_analysed  # the complaint store's writer; raising fails the chunk (it runs again)
        # A job of a dataset fits that dataset's own topic model once every chunk is done; ``on_relabelled``
        # (the store again) gets each relabelled chunk, and only the topic columns change there.
        self.topics = (
            DatasetTopicFitter(settings, files, analyzer, on_relabelled=on_relabelled)
            if settings.jobs_dataset_topics
            else None
        )

    # -- prepare -----------------------------------------------------------------------------------
    def prepare(self, job_id: str) -> None:
        job = self.store.get_job(job_id)
        if job is None or job.state != QUEUED:
            return
        s = self.settings
        if not self.store.claim_prepare(job_id, self.owner, s.jobs_lease_s, time.time()):
            return  # another worker is splitting it
        renew = lambda until: self.store.extend_prepare(job_id, self.owner, until)  # noqa: E731
        with LeaseKeeper(renew, s.jobs_lease_s, s.jobs_chunk_timeout_s, self.stop) as keeper:
            try:
                source = self._source(job)
                fmt = (
                    cast(Format, job.input_format) if job.input_format else sniff(source, None, s.jobs_max_input_bytes)
                )
                plans = self._split(job_id, source, fmt, keeper)
            except InputError as exc:
                if self.store.fail_job(job_id, str(exc), time.time()):
                    logger.warning("job %s failed: %s", job_id, exc)
                self.files.delete_job(job_id)
                return
            if plans is None:  # cancelled or taken over while splitting
                self._drop_if_ended(job_id)
                return
        total = sum(p.size for p in plans)
        if not self.store.start_running(job_id, self.owner, fmt, total, plans, time.time()):
            self._drop_if_ended(job_id)
            return
        self.files.input_path(job_id).unlink(missing_ok=True)  # the chunk inputs hold the records now
        logger.info("job %s: %d records in %d chunks", job_id, total, len(plans))
        sent = {plan.idx: self.queue.send_chunk(job_id, plan.idx) for plan in plans}
        self.store.record_chunk_messages(job_id, sent, time.time())
        if not plans:
            self.finalize(job_id)

    def _source(self, job: JobRow) -> Path:
        if job.source_kind == "upload":
            return self.files.input_path(job.id)
        if job.source_kind == "path":
            path = Path(job.source or "")
            if not path.is_file():
                raise InputError("the path is not a readable file on the worker")
            return path
        return self._download(job)

    def _download(self, job: JobRow) -> Path:
        import httpx

        limit = self.settings.jobs_max_upload_bytes
        target = self.files.input_path(job.id)
        try:
            with (
                httpx.stream("GET", job.source or "", timeout=60.0, follow_redirects=False) as response,
                self.files.atomic_writer(target) as out,
            ):
                if response.is_redirect:
                    raise DownloadError(f"download failed: HTTP {response.status_code} (redirects are not followed)")
                if response.status_code != 200:
                    raise DownloadError(f"download failed: HTTP {response.status_code}")
                size = 0
                for block in response.iter_raw(1024 * 1024):
                    size += len(block)
                    if size > limit:
                        raise DownloadError(f"download is over {limit} bytes")
                    out.write(block)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL is not an HTTPError
            raise DownloadError(f"download failed: {type(exc).__name__}") from None
        return target

    def _split(self, job_id: str, source: Path, fmt: Format, keeper: LeaseKeeper) -> list[ChunkPlan] | None:
        s = self.settings
        plans: list[ChunkPlan] = []
        buffer: list[bytes] = []
        first = 0

        def flush() -> None:
            nonlocal first
            idx = len(plans)
            with self.files.atomic_writer(self.files.chunk_input(job_id, idx)) as fh:
                fh.write(b"".join(buffer))
            plans.append(ChunkPlan(idx, first, len(buffer)))
            first += len(buffer)
            buffer.clear()

        for record in read_records(source, fmt, s.max_text_chars, s.jobs_max_input_bytes):
            buffer.append(orjson.dumps(record.to_json()) + b"\n")
            if len(buffer) >= s.jobs_chunk_size:
                flush()
                if keeper.should_stop():
                    return None
        if buffer:
            flush()
        return plans

    # -- one chunk ---------------------------------------------------------------------------------
    def run_chunk(self, job_id: str, idx: int) -> None:
        job = self.store.get_job(job_id)
        if job is None:
            return
        if job.state in (CANCELLED, FAILED):
            self.store.skip_chunk(job_id, idx, time.time())
            return
        if job.state != RUNNING:
            return
        s = self.settings
        attempt = self.store.claim_chunk(job_id, idx, self.owner, s.jobs_lease_s, time.time())
        if attempt is None:
            return  # done already, or a live worker holds it
        started = time.monotonic()
        renew = lambda until: self.store.extend_chunk(job_id, idx, self.owner, until)  # noqa: E731
        with LeaseKeeper(renew, s.jobs_lease_s, s.jobs_chunk_timeout_s, self.stop) as keeper:
            try:
                records = self._read_chunk(job_id, idx)
            except FileNotFoundError:
                if self._job_state(job_id) != RUNNING:
                    self.store.skip_chunk(job_id, idx, time.time())
                    return
                logger.error(
                    "job %s chunk %d: input file missing (is TOUSU_JOBS_DIR shared by all workers?)", job_id, idx
                )
                raise
            done: tuple[list[bytes], Aggregate, list[FloatArray]] | None
            if attempt > s.jobs_max_attempts:
                logger.error("job %s chunk %d: started %d times; reporting its records as failed", job_id, idx, attempt)
                done = self._give_up(records, attempt - 1)
            else:
                done = self._analyse(job, records, keeper)
            if done is None:  # cancelled, taken over, or shutting down
                if keeper.stopping and not keeper.lost:  # shutting down: hand the chunk back now
                    self.store.release_chunk(job_id, idx, self.owner)
                    sent = self.queue.send_chunk(job_id, idx, front=True)  # it was under way: first in line
                    self.store.record_chunk_messages(job_id, {idx: sent}, time.time())
                elif self._job_state(job_id) in (CANCELLED, FAILED):
                    self.store.skip_chunk(job_id, idx, time.time())
                return
            lines, agg, vectors = done
            out = self.files.new_chunk_output(job_id, idx)
            try:
                with self.files.atomic_writer(out, create_dirs=False) as fh:
                    for line in lines:
                        fh.write(line)
                if self._fits_topics(job) and vectors:
                    self._write_embeddings(out, vectors)
            except FileNotFoundError:
                if self._job_state(job_id) == RUNNING:
                    raise  # the folder vanished under a live job: a real fault, retried by the queue
                self._drop_cancelled_chunk(job_id, idx)  # cancelled while writing: its folder is gone
                return
        if not self.store.complete_chunk(job_id, idx, agg.analyzed, agg.failed, out.name, agg.to_json(), time.time()):
            out.unlink(missing_ok=True)  # another run of this chunk counted first, or the job was cancelled
            embeddings_path(out).unlink(missing_ok=True)
            if self._job_state(job_id) in (CANCELLED, FAILED):
                self.store.skip_chunk(job_id, idx, time.time())
            return
        logger.info(
            "job %s chunk %d: %d analysed, %d bad records in %.1fs (attempt %d)",
            job_id,
            idx,
            agg.analyzed,
            agg.failed,
            time.monotonic() - started,
            attempt,
        )
        self.finalize(job_id)

    def _fits_topics(self, job: JobRow) -> bool:
        return self.topics is not None and job.dataset is not None

    def _write_embeddings(self, out: Path, vectors: list[FloatArray]) -> None:
        """float16 embeddings of the chunk's analysed records, next to its results (deleted after the fit)."""
        dim = max(v.shape[0] for v in vectors)
        matrix = np.stack([v if v.shape[0] == dim else np.zeros(dim, np.float32) for v in vectors]).astype(np.float16)
        with self.files.atomic_writer(embeddings_path(out), create_dirs=False) as fh:
            np.save(fh, matrix, allow_pickle=False)

    def _drop_cancelled_chunk(self, job_id: str, idx: int) -> None:
        """The job was cancelled (or failed) while this chunk ran: mark it skipped, keep none of its files."""
        logger.info("job %s chunk %d: job ended while its results were written; dropped", job_id, idx)
        self.store.skip_chunk(job_id, idx, time.time())
        self.files.delete_job(job_id)

    def _drop_if_ended(self, job_id: str) -> None:
        """A preparation that lost its job: if it was cancelled (or failed) meanwhile, the chunk inputs
        this preparation wrote after ``cancel`` deleted the folder hold message text; delete them now.
        A job taken over by another preparer keeps its files (that preparer writes the same ones)."""
        if self._job_state(job_id) in (CANCELLED, FAILED):
            self.files.delete_job(job_id)

    def _job_state(self, job_id: str) -> str | None:
        job = self.store.get_job(job_id)
        return None if job is None else job.state

    def _read_chunk(self, job_id: str, idx: int) -> list[Record | BadRecord]:
        with self.files.chunk_input(job_id, idx).open("rb") as fh:
            return [record_from_json(orjson.loads(line)) for line in fh if line.strip()]

    def _analyse(
        self, job: JobRow, records: list[Record | BadRecord], keeper: LeaseKeeper
    ) -> tuple[list[bytes], Aggregate, list[FloatArray]] | None:
        if self.analyzer is None:
            raise RuntimeError("this process has no analyzer; chunks run in workers")
        good = {i: r for i, r in enumerate(records) if isinstance(r, Record)}
        analyses: dict[int, Analysis | None] = {}
        embeddings: dict[int, FloatArray | None] = {}
        for batch in self._batches(good):
            if keeper.should_stop():
                return None
            inputs = [self._input(good[i], job.options) for i in batch]
            answers, vectors = self._analyse_safely(inputs)
            analyses.update(zip(batch, answers, strict=True))
            embeddings.update(zip(batch, vectors, strict=True))
        agg = Aggregate()
        lines: list[bytes] = []
        analysed: list[tuple[Record, Analysis]] = []
        kept: list[FloatArray] = []  # one per analysed record, in record order: the dataset topic fit reads them
        for i, record in enumerate(records):
            if isinstance(record, BadRecord):
                agg.add_error(record.error_type)
                lines.append(orjson.dumps(record.to_json()) + b"\n")
                continue
            analysis = analyses[i]
            if analysis is None:
                bad = BadRecord(record.line, "analysis_failed", "the models failed on this message", record.id)
                agg.add_error(bad.error_type)
                lines.append(orjson.dumps(bad.to_json()) + b"\n")
                continue
            agg.add(record.line, record.text, record.channel, analysis)  # line orders report examples
            lines.append(analysis.model_dump_json().encode() + b"\n")
            analysed.append((record, analysis))
            vector = embeddings.get(i)
            kept.append(vector if vector is not None else np.zeros(0, np.float32))
        if self.on_analysed is not None and analysed:
            self.on_analysed(job, analysed)
        return lines, agg, kept

    def _batches(self, good: dict[int, Record]) -> list[list[int]]:
        """Model calls of similar lengths (less padding), capped in count and in characters (bounded memory).

        Sorting puts the longest messages of a chunk together; without the character cap, 32 of them in one
        call made a worker's memory peak above 2 GB. Answers go back to input order in ``_analyse``.
        """
        size, max_chars = self.settings.jobs_batch_size, self.settings.jobs_batch_max_chars
        batches: list[list[int]] = []
        current: list[int] = []
        chars = 0
        for i in sorted(good, key=lambda k: len(good[k].text)):
            n = len(good[i].text)
            if current and (len(current) >= size or chars + n > max_chars):
                batches.append(current)
                current, chars = [], 0
            current.append(i)
            chars += n
        if current:
            batches.append(current)
        return batches

    @staticmethod
    def _input(record: Record, options: dict[str, Any]) -> AnalysisInput:
        received = datetime.fromisoformat(record.received_at) if record.received_at else None
        return AnalysisInput.prepare(
            record.text, options, record.id, received_at=received, customer_id=record.customer_id
        )

    def _analyse_safely(self, inputs: list[AnalysisInput]) -> tuple[list[Analysis | None], list[FloatArray | None]]:
        """One bad message must not sink its batch (``Analyzer.analyze_each`` isolates failures per message);
        None for a message with no answer, reported as ``analysis_failed``. Each answer comes with its e5
        embedding (kept for the dataset's topic fit)."""
        assert self.analyzer is not None
        try:
            results, vectors = self.analyzer.analyze_with_embeddings(inputs)
        except Exception as exc:  # a bug outside the per-message isolation: still one message at a time
            logger.warning("a batch of %d failed (%s); analysing one by one", len(inputs), type(exc).__name__)
            alone = [self._analyse_alone(item) for item in inputs]
            results, vectors = [r for r, _ in alone], [v for _, v in alone]
        return [r if isinstance(r, Analysis) else None for r in results], vectors

    def _analyse_alone(self, item: AnalysisInput) -> tuple[Analysis | AnalysisFailure, FloatArray | None]:
        assert self.analyzer is not None
        try:
            results, vectors = self.analyzer.analyze_with_embeddings([item])
            return results[0], vectors[0]
        except Exception as exc:
            logger.warning("a message failed analysis (%s)", type(exc).__name__)
            return ANALYSIS_FAILED, None

    @staticmethod
    def _give_up(records: list[Record | BadRecord], attempts: int) -> tuple[list[bytes], Aggregate, list[FloatArray]]:
        """Workers died on this chunk every time (a poison message?): report its records, finish the job."""
        agg = Aggregate()
        lines: list[bytes] = []
        for r in records:
            bad = (
                r
                if isinstance(r, BadRecord)
                else BadRecord(r.line, "analysis_failed", f"chunk abandoned after {attempts} failed attempts", r.id)
            )
            agg.add_error(bad.error_type)
            lines.append(orjson.dumps(bad.to_json()) + b"\n")
        return lines, agg, []

    # -- finish ------------------------------------------------------------------------------------
    def finalize(self, job_id: str) -> bool:
        """Merge, fit the dataset's topics, write the report: by one process at a time (a claim on the job,
        renewed while it works), so the reapers of the API and of the other workers wait instead of repeating
        a topic fit of minutes beside it; a finisher that dies lets its claim run out and a reaper takes over."""
        job = self.store.get_job(job_id)
        if job is None or job.state != RUNNING or not self.store.all_chunks_done(job_id):
            return False  # checked first: every finished chunk calls this, and loading all aggregates is not cheap
        s = self.settings
        if not self.store.claim_finish(job_id, self.owner, s.jobs_lease_s, time.time()):
            return False  # another process is finishing it
        finished = False
        try:

            def renew(until: float) -> bool:
                return self.store.extend_finish(job_id, self.owner, until)

            with LeaseKeeper(renew, s.jobs_lease_s, s.jobs_chunk_timeout_s):
                finished = self._finish(job, job_id)
            return finished
        finally:
            if not finished:
                self.store.release_finish(job_id, self.owner)

    def _finish(self, job: JobRow, job_id: str) -> bool:
        chunks = self.store.chunks(job_id)
        if any(c.state != CHUNK_DONE or c.aggregate is None for c in chunks):
            return False
        agg = Aggregate()
        for chunk in chunks:
            agg.merge(Aggregate.from_json(chunk.aggregate or {}))
        fitted = None
        warnings: list[str] = []
        if self.topics is not None and job.dataset is not None:
            # Before the inputs go: the fit reads the texts; it relabels the results and ``agg.topics``.
            fitted, warning = self.topics.fit(job, chunks, agg)
            if warning:
                warnings.append(warning)
        limit = self.settings.jobs_topic_history - 1  # earlier runs; this job is the last of the trend
        history = self.store.recent_reports(job.dataset, job.created_at, job.id, limit) if job.dataset else []
        previous = history[0] if history else None
        now = time.time()
        args = (job.id, job.dataset, job.created_at, now, job.total or 0, agg)
        limits = (self.settings.alert_share_rise, self.settings.alert_min_count)
        try:
            report = build_report(*args, previous, *limits, history=history, warnings=warnings, topic_model=fitted)
        except ValidationError:  # a report stored by an older version: finish without the comparison
            logger.warning("job %s: the previous report of its dataset is unreadable; no comparison", job_id)
            report = build_report(*args, None, *limits, warnings=warnings, topic_model=fitted)
        versions = {name: seen[0] for name, seen in agg.versions.items() if seen}
        if not self.store.finish_job(job_id, report.model_dump(mode="json"), versions, now):
            return False
        if fitted is not None and self.topics is not None and job.dataset is not None:
            self.topics.publish(job.dataset, job.id)
        self.files.delete_inputs(job_id)
        self.files.delete_unreferenced_outputs(job_id, {c.output for c in chunks if c.output})
        logger.info(
            "job %s completed: %d analysed, %d bad records, %d alerts",
            job_id,
            agg.analyzed,
            agg.failed,
            len(report.alerts),
        )
        return True
