"""Job files are private (0600 / 0700) and a job cancelled while a chunk is written ends cleanly."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from models.encoder import FloatArray
from models.pipeline import AnalysisFailure, AnalysisInput
from models.schema import Analysis
from service.jobs.executor import JobExecutor
from service.jobs.files import JobFiles
from service.jobs.queue import LocalQueue
from service.jobs.service import JobService, new_job_id
from service.jobs.store import JobStore
from tests.jobs_support import job_settings, jsonl, make_registry, queued_job


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask (files 0644, folders 0755) that made job files world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_job_files_are_private_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    files = JobFiles(tmp_path / "var" / "jobs")
    job_id = new_job_id()
    with files.atomic_writer(files.chunk_input(job_id, 0)) as fh:
        fh.write(b'{"text": "x"}\n')
    with files.atomic_writer(files.input_path(job_id)) as fh:
        fh.write(b"x")
    assert _mode(files.chunk_input(job_id, 0)) == 0o600
    assert _mode(files.input_path(job_id)) == 0o600
    for folder in (files.chunks_dir(job_id), files.job_dir(job_id), files.root, files.root.parent):
        assert _mode(folder) == 0o700, folder


def test_the_sqlite_job_database_is_private(tmp_path: Path, open_umask: None) -> None:
    jobs_dir = tmp_path / "jobs"
    store = JobStore.open(None, jobs_dir)
    try:
        assert _mode(jobs_dir) == 0o700
        assert [(p.name, _mode(p)) for p in jobs_dir.iterdir() if p.name.endswith(".db")] == [("tousu.db", 0o600)]
    finally:
        store.close()


def test_an_api_upload_is_private(tmp_path: Path, open_umask: None) -> None:
    settings = job_settings(tmp_path)
    store = JobStore.open(None, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    job_id = new_job_id()
    with files.atomic_writer(files.input_path(job_id)) as fh:
        fh.write(jsonl([{"text": "快递三天没到"}]))
    assert _mode(files.input_path(job_id)) == 0o600 and _mode(files.job_dir(job_id)) == 0o700
    store.close()


def _running_job(store: JobStore, files: JobFiles, executor: JobExecutor, n: int) -> str:
    job_id = queued_job(store)
    with files.atomic_writer(files.input_path(job_id)) as fh:
        fh.write(jsonl([{"id": str(i), "text": f"快递{i}天没到"} for i in range(n)]))
    executor.prepare(job_id)
    return job_id


@pytest.mark.parametrize("when", ["before_the_write", "during_the_write", "after_the_rename"])
def test_cancel_while_a_chunk_is_written_logs_no_traceback_and_leaves_no_chunk_running(
    tmp_path: Path, database: str | None, caplog: pytest.LogCaptureFixture, when: str
) -> None:
    settings = job_settings(tmp_path, database_url=database)
    store = JobStore.open(database, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    queue = LocalQueue(1)
    analyzer = make_registry().analyzer
    service = JobService(settings, store, files, queue)
    executor = JobExecutor(store, files, queue, settings, analyzer=analyzer)
    job_id = _running_job(store, files, executor, 8)
    assert [c.state for c in store.chunks(job_id)] == ["queued"]

    def cancel() -> None:  # DELETE /v1/jobs/{id} while the worker holds the chunk
        assert [c.state for c in store.chunks(job_id)] == ["running"]
        service.cancel(job_id)

    if when == "before_the_write":
        analyse = analyzer.analyze_with_embeddings  # what the executor calls for a model batch

        def cancelled_after_analysis(
            items: list[AnalysisInput],
        ) -> tuple[list[Analysis | AnalysisFailure], list[FloatArray | None]]:
            results = analyse(items)
            cancel()
            return results

        analyzer.analyze_with_embeddings = cancelled_after_analysis  # type: ignore[method-assign]
    elif when == "after_the_rename":  # the results file is in place; the checkpoint (complete_chunk) is next
        writer = files.atomic_writer

        @contextlib.contextmanager
        def cancelled_after_the_rename(path: Path, create_dirs: bool = True) -> Iterator[IO[bytes]]:
            with writer(path, create_dirs) as fh:
                yield fh
            if path.name.endswith(".out.jsonl"):
                cancel()

        files.atomic_writer = cancelled_after_the_rename  # type: ignore[method-assign]
    else:
        writer = files.atomic_writer

        @contextlib.contextmanager
        def cancelled_before_the_rename(path: Path, create_dirs: bool = True) -> Iterator[IO[bytes]]:
            with writer(path, create_dirs) as fh:
                yield fh
                if path.name.endswith(".out.jsonl"):
                    cancel()  # the folder is deleted under the open temporary file

        files.atomic_writer = cancelled_before_the_rename  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO):
        executor.run_chunk(job_id, 0)  # raises nothing
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert [c.state for c in store.chunks(job_id)] == ["skipped"]
    job = store.get_job(job_id)
    assert job is not None and job.state == "cancelled"
    assert not files.job_dir(job_id).exists()  # no results file of a cancelled job left behind
    store.close()


def test_cancel_skips_a_chunk_whose_worker_died(tmp_path: Path, database: str | None) -> None:
    settings = job_settings(tmp_path, database_url=database)
    store = JobStore.open(database, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    executor = JobExecutor(store, files, LocalQueue(1), settings, analyzer=make_registry().analyzer)
    job_id = _running_job(store, files, executor, 25)
    assert store.claim_chunk(job_id, 1, "dead-worker", 60.0, time.time()) == 1  # then SIGKILL: nobody renews it
    assert JobService(settings, store, files, LocalQueue(1)).cancel(job_id).state == "cancelled"
    assert [c.state for c in store.chunks(job_id)] == ["skipped", "skipped", "skipped"]
    assert not store.extend_chunk(job_id, 1, "dead-worker", time.time() + 60)
    store.close()
