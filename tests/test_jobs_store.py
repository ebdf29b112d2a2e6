"""The once-only transitions of the job database, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from service.jobs.executor import JobExecutor
from service.jobs.files import JobFiles
from service.jobs.queue import LocalQueue
from service.jobs.reaper import Reaper
from service.jobs.service import JobService, new_job_id
from service.jobs.store import ChunkPlan, JobStore
from tests.jobs_support import JobClient, job_settings, jsonl, make_registry, queued_job


class RecordingQueue:
    """A broker stand-in: records sends, and forgets messages on demand (Redis restarted empty)."""

    backend = "test"

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []
        self.forgotten: set[str] = set()

    def send_prepare(self, job_id: str) -> str:
        self.sent.append(("prepare", job_id))
        return f"m{len(self.sent)}"

    def send_chunk(self, job_id: str, idx: int, front: bool = False) -> str:
        self.sent.append(("chunk", job_id, str(idx)) + (("front",) if front else ()))
        return f"m{len(self.sent)}"

    def lost(self, message_ids: list[str]) -> set[str]:
        return {m for m in message_ids if m in self.forgotten}

    def forget_all(self) -> None:
        self.forgotten = {f"m{i}" for i in range(1, len(self.sent) + 1)}

    def close(self) -> None:
        pass


def _running(store: JobStore, chunks: int = 3) -> str:
    job_id = queued_job(store)
    assert store.claim_prepare(job_id, "prep", 30, time.time())
    plans = [ChunkPlan(i, i * 10, 10) for i in range(chunks)]
    assert store.start_running(job_id, "prep", "jsonl", 10 * chunks, plans, time.time())
    return job_id


def test_a_chunk_is_claimed_by_one_worker_and_counted_once(tmp_path: Path, database: str | None) -> None:
    store = JobStore.open(database, tmp_path)
    job_id = _running(store)
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def claim(name: str) -> None:
        barrier.wait()
        if store.claim_chunk(job_id, 0, name, 30, time.time()) is not None:
            winners.append(name)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1

    def complete() -> bool:
        return store.complete_chunk(job_id, 0, 9, 1, "000000.a.out.jsonl", {"n": 1}, time.time())

    results = [complete(), complete()]
    assert results == [True, False]  # a duplicate run of a finished chunk changes nothing
    assert store.claim_chunk(job_id, 0, "late", 30, time.time()) is None
    progress = store.progress(job_id)
    assert (progress.done, progress.failed, progress.chunks_done) == (9, 1, 1)
    store.close()


def test_an_expired_lease_moves_the_chunk_to_another_worker(tmp_path: Path, database: str | None) -> None:
    store = JobStore.open(database, tmp_path)
    job_id = _running(store)
    now = time.time()
    assert store.claim_chunk(job_id, 1, "dead", 5, now) == 1
    assert store.claim_chunk(job_id, 1, "other", 5, now + 1) is None  # lease still valid
    assert store.expired_chunks(now + 1) == []
    assert store.expired_chunks(now + 6) == [(job_id, 1)]
    assert store.requeue_expired(job_id, 1, now + 6)
    assert not store.requeue_expired(job_id, 1, now + 6)  # a second reaper changes nothing
    assert store.claim_chunk(job_id, 1, "other", 5, now + 6) == 2
    assert not store.extend_chunk(job_id, 1, "dead", now + 20)  # the old owner learns it lost the chunk
    assert store.extend_chunk(job_id, 1, "other", now + 20)
    store.close()


def test_finish_once_and_only_when_every_chunk_is_done(tmp_path: Path, database: str | None) -> None:
    store = JobStore.open(database, tmp_path)
    job_id = _running(store, chunks=2)
    assert store.complete_chunk(job_id, 0, 10, 0, "a", {}, time.time())
    assert store.finishable_jobs() == []
    assert not store.finish_job(job_id, {"r": 1}, {}, time.time())
    assert store.complete_chunk(job_id, 1, 10, 0, "b", {}, time.time())
    assert store.finishable_jobs() == [job_id]
    assert store.finish_job(job_id, {"r": 1}, {"m": "1"}, time.time())
    assert not store.finish_job(job_id, {"r": 2}, {}, time.time())
    job = store.get_job(job_id)
    assert job is not None and job.state == "completed" and job.report == {"r": 1}
    assert all(c.aggregate is None for c in store.chunks(job_id))  # merged into the report
    store.close()


def test_one_finisher_at_a_time_and_a_dead_one_is_taken_over(tmp_path: Path, database: str | None) -> None:
    store = JobStore.open(database, tmp_path)
    job_id = _running(store, chunks=1)
    now = time.time()
    assert store.claim_finish(job_id, "worker-a", 5, now)
    assert not store.claim_finish(job_id, "reaper-b", 5, now + 1)  # worker-a is fitting the topics
    assert store.extend_finish(job_id, "worker-a", now + 10)
    assert not store.extend_finish(job_id, "reaper-b", now + 10)
    assert not store.claim_finish(job_id, "reaper-b", 5, now + 9)
    assert store.claim_finish(job_id, "reaper-b", 5, now + 11)  # worker-a died: its claim ran out
    store.release_finish(job_id, "worker-a")  # the old finisher cannot free what it lost
    assert not store.claim_finish(job_id, "reaper-c", 5, now + 12)
    store.release_finish(job_id, "reaper-b")
    assert store.claim_finish(job_id, "reaper-c", 5, now + 12)
    store.close()


def test_a_reaper_does_not_finish_a_job_another_process_is_finishing(tmp_path: Path, database: str | None) -> None:
    settings = job_settings(tmp_path, database_url=database)
    store = JobStore.open(database, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    job_id = _queued_upload(store, files, 25)
    executor = JobExecutor(store, files, LocalQueue(1), settings, analyzer=make_registry().analyzer)
    executor.prepare(job_id)
    assert store.claim_finish(job_id, "the-last-chunk's-worker", 60, time.time())  # busy with the topic fit
    for idx in range(3):
        executor.run_chunk(job_id, idx)
    assert store.finishable_jobs() == [job_id]
    assert not executor.finalize(job_id)  # what the API's reaper tries every interval
    job = store.get_job(job_id)
    assert job is not None and job.state == "running"
    store.release_finish(job_id, "the-last-chunk's-worker")  # it failed and let go
    assert executor.finalize(job_id)
    job = store.get_job(job_id)
    assert job is not None and job.state == "completed" and job.prepare_owner is None
    store.close()


def test_cancel_skips_queued_chunks_and_blocks_completion(tmp_path: Path, database: str | None) -> None:
    store = JobStore.open(database, tmp_path)
    job_id = _running(store)
    assert store.claim_chunk(job_id, 0, "w", 30, time.time()) == 1
    assert store.cancel_job(job_id, time.time())
    assert not store.cancel_job(job_id, time.time())
    assert [c.state for c in store.chunks(job_id)] == ["skipped", "skipped", "skipped"]  # the running one too
    assert not store.complete_chunk(job_id, 0, 10, 0, "a", {}, time.time())  # results of a cancelled job never count
    assert store.claim_chunk(job_id, 1, "w", 30, time.time()) is None
    store.close()


def test_previous_report_is_the_last_completed_job_of_the_dataset(tmp_path: Path, database: str | None) -> None:
    store = JobStore.open(database, tmp_path)
    t = time.time()
    ids = [
        queued_job(store, "night", t - 300),
        queued_job(store, "night", t - 200),
        queued_job(store, "other", t - 150),
    ]
    for i, job_id in enumerate(ids):
        assert store.claim_prepare(job_id, "p", 30, t)
        assert store.start_running(job_id, "p", "jsonl", 0, [], t)
        assert store.finish_job(job_id, {"n": i}, {}, t)
    current = queued_job(store, "night", t - 100)
    assert store.previous_report("night", t - 100, current) == {"n": 1}
    assert store.previous_report("night", t - 250, current) == {"n": 0}
    assert store.previous_report("new", t, current) is None
    store.close()


def _queued_upload(store: JobStore, files: JobFiles, n: int) -> str:
    """A job the API accepted (upload written, row inserted) whose preparation has not run: chunks of 10."""
    job_id = queued_job(store)
    files.input_path(job_id).parent.mkdir(parents=True)
    files.input_path(job_id).write_bytes(jsonl([{"id": str(i), "text": f"消息{i}"} for i in range(n)]))
    return job_id


def test_reaper_recovers_a_job_the_api_accepted_but_never_sent(
    tmp_path: Path, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API died between inserting the job and sending its prepare message."""
    settings = job_settings(tmp_path, database_url=database, jobs_lease_s=30.0)
    store = JobStore.open(database, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    job_id = _queued_upload(store, files, 25)
    queue = RecordingQueue()
    reaper = Reaper(store, files, queue, lambda _: False, settings)
    assert reaper.run_once().prepares == []  # within the grace period: the API may still be sending it
    later = time.time() + 31.0  # past the grace period, without a timing race on a busy machine
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: later)
        assert reaper.run_once().prepares == [job_id]
        assert Reaper(store, files, queue, lambda _: False, settings).run_once().prepares == []  # sent once

    local = LocalQueue(1)
    executor = JobExecutor(store, files, local, settings, analyzer=make_registry().analyzer)
    executor.prepare(job_id)
    assert [c.size for c in store.chunks(job_id)] == [10, 10, 5]
    for idx in range(3):
        executor.run_chunk(job_id, idx)
    job = store.get_job(job_id)
    assert job is not None and job.state == "completed" and job.total == 25
    service = JobService(settings, store, files, local)
    assert len(service.result_outputs(job_id)) == 3
    store.close()


def test_reaper_resends_chunk_messages_that_were_never_sent_or_lost(
    tmp_path: Path, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = job_settings(tmp_path, database_url=database, jobs_lease_s=30.0, jobs_requeue_after_s=300.0)
    store = JobStore.open(database, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    job_id = _running(store, chunks=2)  # split, then the process died before sending
    queue = RecordingQueue()
    reaper = Reaper(store, files, queue, lambda _: False, settings)
    assert reaper.run_once().resent == []  # within the grace period
    clock = [time.time()]  # then time moves on by whole leases, without a timing race on a busy machine
    monkeypatch.setattr(time, "time", lambda: clock[0])
    clock[0] += 31.0
    assert sorted(reaper.run_once().resent) == [(job_id, 0), (job_id, 1)]
    clock[0] += 31.0
    assert reaper.run_once().resent == []  # the broker holds them: nothing to do
    queue.forget_all()  # Redis restarted without persistence
    assert sorted(reaper.run_once().resent) == [(job_id, 0), (job_id, 1)]
    assert Reaper(store, files, queue, lambda _: False, settings).run_once().resent == []  # one reaper sends
    assert [c.message_id for c in store.chunks(job_id)] == ["m3", "m4"]
    assert len(queue.sent) == 4
    store.close()


def test_a_job_accepted_while_the_queue_is_down_is_sent_later(tmp_path: Path, database: str | None) -> None:
    class DownThenUp(RecordingQueue):
        down = True

        def send_prepare(self, job_id: str) -> str:
            if self.down:
                raise ConnectionError("redis is down")
            return super().send_prepare(job_id)

    settings = job_settings(tmp_path, database_url=database, jobs_lease_s=0.3)
    store = JobStore.open(database, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    queue = DownThenUp()
    job_id = new_job_id()
    files.input_path(job_id).parent.mkdir(parents=True)
    files.input_path(job_id).write_bytes(jsonl([{"text": "快递没到"}]))
    status = JobService(settings, store, files, queue).accept(job_id, "upload", None, "jsonl", None, {})
    assert status.state == "queued" and queue.sent == []  # accepted and durable, not sent
    queue.down = False
    time.sleep(0.4)
    assert Reaper(store, files, queue, lambda _: False, settings).run_once().prepares == [job_id]
    assert queue.sent == [("prepare", job_id)]
    store.close()


async def test_a_job_end_to_end_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    client = await JobClient(job_settings(tmp_path, database_url=pg_url)).start()
    try:
        job_id = await client.submit(jsonl([{"id": str(i), "text": f"快递第{i}天没到"} for i in range(35)]))
        status = await client.wait(job_id)
        assert status["state"] == "completed" and status["counts"]["done"] == 35
        assert [o["id"] for o in await client.results(job_id)] == [str(i) for i in range(35)]
        assert (await client.http.get(f"/v1/jobs/{job_id}/report")).json()["counts"]["analyzed"] == 35
        assert not (tmp_path / "jobs" / "tousu.db").exists()  # metadata went to PostgreSQL
    finally:
        await client.stop()


def test_a_job_cancelled_while_it_is_split_leaves_no_message_text_behind(tmp_path: Path, database: str | None) -> None:
    """``cancel`` deletes the job folder, but a preparation still splitting writes chunk inputs after it."""
    settings = job_settings(tmp_path, database_url=database)
    store = JobStore.open(database, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    job_id = _queued_upload(store, files, 25)
    service = JobService(settings, store, files, LocalQueue(1))
    executor = JobExecutor(store, files, LocalQueue(1), settings, analyzer=make_registry().analyzer)
    split = executor._split

    def split_then_cancelled(*args: object, **kwargs: object) -> object:
        plans = split(*args, **kwargs)  # type: ignore[arg-type]
        assert files.chunk_input(job_id, 0).exists()
        service.cancel(job_id)  # the API cancels while the preparation is still running
        files.chunk_input(job_id, 1).parent.mkdir(parents=True, exist_ok=True)
        files.chunk_input(job_id, 1).write_bytes(b'{"text": "late"}\n')  # what the split writes after the cancel
        return plans

    executor._split = split_then_cancelled  # type: ignore[method-assign]
    executor.prepare(job_id)
    job = store.get_job(job_id)
    assert job is not None and job.state == "cancelled"
    assert not files.job_dir(job_id).exists()
    store.close()
