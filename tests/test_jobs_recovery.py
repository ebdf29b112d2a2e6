"""Nothing is lost: real ``tousu worker`` / ``tousu serve`` processes, the real Redis, SIGKILL mid-chunk.

The workers run the deterministic fake model slowed down to ~1 s per chunk of 250 messages
(``TOUSU_TEST_FAKE_DELAY_S``), so a chunk is reliably killed in its middle. Each test checks the
final results: every record exactly once, in input order, bad records at their place.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from service.jobs.files import JobFiles
from service.jobs.queue import LocalQueue, RedisQueue, make_broker
from service.jobs.reaper import Reaper
from service.jobs.store import ChunkPlan, JobStore
from tests.conftest import REDIS_URL
from tests.jobs_support import Processes, free_port, job_settings, queued_job, wait_until
from tests.test_jobs_store import RecordingQueue

N_RECORDS = 3000
BAD_EVERY = 500  # lines 500, 1000, ... are invalid JSON


def _env(
    tmp_path: Path, database: str | None, redis_url: str | None, lease_s: float = 2, heartbeat_ttl_s: float = 1
) -> dict[str, str]:
    return {
        "TOUSU_REDIS_URL": redis_url or "",
        "TOUSU_DATABASE_URL": database or "",
        "TOUSU_JOBS_DIR": str(tmp_path / "jobs"),
        "TOUSU_ARTIFACTS_DIR": str(tmp_path),
        "TOUSU_JOBS_QUEUE_NAME": f"tousu-test-{uuid.uuid4().hex[:8]}",
        "TOUSU_JOBS_CHUNK_SIZE": "250",
        "TOUSU_JOBS_BATCH_SIZE": "25",
        "TOUSU_JOBS_LEASE_S": str(lease_s),
        "TOUSU_JOBS_HEARTBEAT_TTL_S": str(heartbeat_ttl_s),
        "TOUSU_JOBS_REAPER_INTERVAL_S": "0.5",
        "TOUSU_TEST_FAKE_DELAY_S": "0.1",
        "TOUSU_BATCH_MAX_WAIT_MS": "5",
        "TOUSU_LOG_LEVEL": "info",
    }


def _dump() -> bytes:
    lines = []
    for i in range(N_RECORDS):
        if i and i % BAD_EVERY == 0:
            lines.append(b'{"id": "broken", "text": ')
        lines.append(json.dumps({"id": f"r{i}", "text": f"退款第{i}单还没到"}, ensure_ascii=False).encode())
    return b"\n".join(lines) + b"\n"


def _check_results(body: str) -> None:
    out = [json.loads(line) for line in body.splitlines()]
    good = [o for o in out if "error_type" not in o]
    bad = [o for o in out if "error_type" in o]
    assert [o["id"] for o in good] == [f"r{i}" for i in range(N_RECORDS)]  # all, in order, each exactly once
    assert all(o["sentiment"] is not None for o in good)
    n_bad = (N_RECORDS - 1) // BAD_EVERY
    assert [o["line"] for o in bad] == [BAD_EVERY * k + k for k in range(1, n_bad + 1)]
    assert len(out) == N_RECORDS + n_bad


Spawn = Callable[[dict[str, str]], Processes]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Process groups sharing an environment; every process is killed at the end of the test."""
    logs = tmp_path / "logs"
    logs.mkdir()
    made: list[Processes] = []

    def factory(env: dict[str, str]) -> Processes:
        made.append(Processes(env, logs))
        return made[-1]

    yield factory
    for p in made:
        p.close()


def _running_chunk(store: JobStore, job_id: str, min_age_s: float) -> tuple[int, int] | None:
    """(chunk idx, worker pid) of a chunk in the middle of its run, once at least one chunk is done."""
    chunks = store.chunks(job_id)
    if not any(c.state == "done" for c in chunks):
        return None
    for c in chunks:
        if c.state == "running" and c.owner and c.started_at and time.time() - c.started_at >= min_age_s:
            return c.idx, int(c.owner.split(":")[-2])  # owner: [api:]host:pid:nonce
    return None


def _logs(p: Processes) -> str:
    return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}" for f in sorted(p.logs.glob("*.log")))


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("noticed_by", ["lease", "heartbeat"])
def test_worker_killed_mid_chunk_loses_nothing(
    tmp_path: Path, database: str | None, redis_client: redis.Redis, spawn: Spawn, noticed_by: str
) -> None:
    """``lease``: heartbeats off, the 2 s lease runs out (the backstop); ``heartbeat``: a 30 s lease, and the
    killed worker's 1 s heartbeat is what gets its chunk sent again, long before the lease would."""
    if noticed_by == "lease":
        p = spawn(_env(tmp_path, database, REDIS_URL, lease_s=2, heartbeat_ttl_s=0))
    else:
        p = spawn(_env(tmp_path, database, REDIS_URL, lease_s=30, heartbeat_ttl_s=1))
    api_port = free_port()
    api = p.api(api_port, "api")
    workers = {p.worker("w1").pid: "w1", p.worker("w2").pid: "w2"}
    base = f"http://127.0.0.1:{api_port}"
    store = JobStore.open(database, tmp_path / "jobs")
    try:
        r = httpx.post(f"{base}/v1/jobs", content=_dump(), headers={"content-type": "application/x-ndjson"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        found: list[tuple[int, int]] = []

        def mid_chunk() -> bool:
            hit = _running_chunk(store, job_id, 0.3)
            if hit is None or hit[1] not in workers:
                return False
            # Frozen first, so that it cannot finish the chunk between this check and the kill (on a loaded
            # machine it sometimes did, and the "killed" chunk was never run again).
            os.kill(hit[1], signal.SIGSTOP)
            row = next(c for c in store.chunks(job_id) if c.idx == hit[0])
            if row.state == "running" and row.owner and int(row.owner.split(":")[-2]) == hit[1]:
                found.append(hit)
                return True
            os.kill(hit[1], signal.SIGCONT)
            return False

        wait_until(mid_chunk, 60, "a chunk in the middle of its run")
        idx, pid = found[0]
        victim = next(proc for proc in p.procs if proc.pid == pid)
        p.kill(victim)  # SIGKILL: no cleanup, no ack, the lease just stops being renewed
        killed_at = time.time()
        p.worker("w3")
        wait_until(lambda: httpx.get(f"{base}/v1/jobs/{job_id}").json()["state"] == "completed", 120, "completion")

        _check_results(httpx.get(f"{base}/v1/jobs/{job_id}/results", timeout=30).text)
        status = httpx.get(f"{base}/v1/jobs/{job_id}").json()
        assert status["counts"] == {"total": N_RECORDS + 5, "done": N_RECORDS, "failed": 5, "pending": 0}
        chunks = store.chunks(job_id)
        killed = next(c for c in chunks if c.idx == idx)
        assert killed.attempts >= 2 and killed.owner is None  # it was run again, by another worker
        # It went to the front: no chunk sent once, and first started after the re-send, started before the
        # re-run (but one whose fetch was under way at that moment; a FIFO queue lets every queued one pass).
        assert killed.enqueued_at is not None and killed.started_at is not None
        overtook = [
            c.idx
            for c in chunks
            if c.idx != idx
            and c.attempts == 1
            and c.started_at
            and killed.enqueued_at < c.started_at < killed.started_at
        ]
        assert len(overtook) <= 1, (overtook, killed.enqueued_at, killed.started_at)
        outputs = sorted(path.name for path in (tmp_path / "jobs" / job_id / "chunks").iterdir())
        assert outputs == sorted(c.output for c in chunks if c.output)  # one results file per chunk, no strays
        logs = p.log("api") + p.log("w1") + p.log("w2") + p.log("w3")
        if noticed_by == "lease":
            assert "lease expired" in logs and "stopped beating" not in logs
        else:
            assert "stopped beating" in logs and "lease expired" not in logs
            assert killed.enqueued_at - killed_at < 4.0  # about one heartbeat TTL after the kill, not the 30 s lease
        assert api.poll() is None
    except AssertionError:
        print(_logs(p))
        raise
    finally:
        store.close()


@pytest.mark.redis
@pytest.mark.slow
def test_api_and_worker_killed_then_restarted_lose_nothing(
    tmp_path: Path, redis_client: redis.Redis, spawn: Spawn
) -> None:
    """A total outage in the middle of a job: the API and the only worker die; both come back."""
    p = spawn(_env(tmp_path, None, REDIS_URL))
    port = free_port()
    api = p.api(port, "api-1")
    worker = p.worker("w1")
    base = f"http://127.0.0.1:{port}"
    store = JobStore.open(None, tmp_path / "jobs")
    try:
        r = httpx.post(f"{base}/v1/jobs", content=_dump(), headers={"content-type": "application/x-ndjson"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        wait_until(lambda: _running_chunk(store, job_id, 0.3) is not None, 60, "a chunk in the middle of its run")
        p.kill(api)
        p.kill(worker)
        redis_client.flushdb()  # and Redis restarted without persistence: every queued message is gone
        p.api(port, "api-2")
        p.worker("w2")
        wait_until(lambda: httpx.get(f"{base}/v1/jobs/{job_id}").json()["state"] == "completed", 120, "completion")
        _check_results(httpx.get(f"{base}/v1/jobs/{job_id}/results", timeout=30).text)
    except AssertionError:
        print(_logs(p))
        raise
    finally:
        store.close()


@pytest.mark.slow
def test_in_process_api_killed_mid_job_resumes_after_restart(tmp_path: Path, spawn: Spawn) -> None:
    """Without Redis the API runs the job itself; SIGKILL it, start it again, and the job completes."""
    p = spawn(_env(tmp_path, None, None))
    port = free_port()
    api = p.api(port, "api-1")
    base = f"http://127.0.0.1:{port}"
    store = JobStore.open(None, tmp_path / "jobs")
    try:
        r = httpx.post(f"{base}/v1/jobs", content=_dump(), headers={"content-type": "application/x-ndjson"})
        job_id = r.json()["id"]
        wait_until(lambda: _running_chunk(store, job_id, 0.3) is not None, 60, "a chunk in the middle of its run")
        p.kill(api)
        p.api(port, "api-2")
        wait_until(lambda: httpx.get(f"{base}/v1/jobs/{job_id}").json()["state"] == "completed", 120, "completion")
        _check_results(httpx.get(f"{base}/v1/jobs/{job_id}/results", timeout=30).text)
        assert "resumed jobs after start-up" in p.log("api-2")
    except AssertionError:
        print(_logs(p))
        raise
    finally:
        store.close()


# -- a re-sent chunk goes to the front ----------------------------------------------------------------------


def test_local_queue_runs_a_resent_chunk_before_the_queued_ones() -> None:
    queue = LocalQueue(1)
    seen: list[tuple[str, int]] = []
    done = threading.Event()

    class Handler:
        def prepare(self, job_id: str) -> None:
            self.run_chunk(job_id, -1)

        def run_chunk(self, job_id: str, idx: int) -> None:
            seen.append((job_id, idx))
            if len(seen) == 5:
                done.set()

    for idx in range(3):
        queue.send_chunk("j", idx)
    queue.send_prepare("k")
    queue.send_chunk("j", 7, front=True)  # a killed worker's chunk, re-sent by the reaper
    queue.start(Handler())
    try:
        assert done.wait(10)
    finally:
        queue.close()
    assert seen == [("j", 7), ("j", 0), ("j", 1), ("j", 2), ("k", -1)]


@pytest.mark.redis
def test_redis_queue_puts_a_resent_chunk_at_the_head_of_the_list(redis_client: redis.Redis) -> None:
    queue = RedisQueue(make_broker(REDIS_URL, f"tousu-test-{uuid.uuid4().hex[:8]}", 2.0))
    try:
        normal = [queue.send_chunk("j", idx) for idx in range(3)]
        resent = queue.send_chunk("j", 9, front=True)
        waiting = [m.decode() for m in redis_client.lrange(queue.list_key, 0, -1)]
        assert waiting == [resent, *normal]  # workers fetch from the head (LPOP)
        redis_client.lpop(queue.list_key)  # a worker fetched it meanwhile
        assert resent is not None and not queue.to_front(resent)  # then it is not put back: no duplicate
        assert [m.decode() for m in redis_client.lrange(queue.list_key, 0, -1)] == normal
    finally:
        queue.close()


def test_reaper_sends_expired_and_lost_chunks_to_the_front(tmp_path: Path, database: str | None) -> None:
    settings = job_settings(tmp_path, database_url=database, jobs_lease_s=0.2)
    store = JobStore.open(database, settings.jobs_dir)
    job_id = queued_job(store)
    assert store.claim_prepare(job_id, "prep", 30, time.time())
    assert store.start_running(job_id, "prep", "jsonl", 20, [ChunkPlan(0, 0, 10), ChunkPlan(1, 10, 10)], time.time())
    store.record_chunk_messages(job_id, {0: "m0", 1: "m1"}, time.time())
    assert store.claim_chunk(job_id, 0, "killed-worker", 0.2, time.time()) == 1
    queue = RecordingQueue()
    queue.forgotten = {"m1"}  # chunk 1's message is gone too (Redis restarted empty)
    time.sleep(0.5)  # chunk 0's lease has expired
    result = Reaper(store, JobFiles(settings.jobs_dir), queue, lambda _: False, settings).run_once()
    assert result.expired == [(job_id, 0)] and result.resent == [(job_id, 1)]
    assert sorted(queue.sent) == [("chunk", job_id, "0", "front"), ("chunk", job_id, "1", "front")]
    store.close()


def test_reaper_wakes_when_the_first_lease_ends_not_a_whole_interval_later(
    tmp_path: Path, database: str | None
) -> None:
    settings = job_settings(tmp_path, database_url=database, jobs_reaper_interval_s=30)
    store = JobStore.open(database, settings.jobs_dir)
    reaper = Reaper(store, JobFiles(settings.jobs_dir), RecordingQueue(), lambda _: False, settings)
    assert store.next_lease_expiry() is None
    assert reaper._next_wait() >= 0.8 * 30  # nothing running: the plain interval
    job_id = queued_job(store)
    assert store.claim_prepare(job_id, "prep", 30, time.time())
    assert store.start_running(job_id, "prep", "jsonl", 20, [ChunkPlan(0, 0, 10), ChunkPlan(1, 10, 10)], time.time())
    now = time.time()
    assert store.claim_chunk(job_id, 0, "worker-a", 5.0, now) == 1
    assert store.claim_chunk(job_id, 1, "worker-b", 2.0, now) == 1
    expiry = store.next_lease_expiry()
    assert expiry is not None and abs(expiry - (now + 2.0)) < 0.5  # the earlier of the two leases
    assert 1.0 < reaper._next_wait() <= 2.0 + 0.1  # wakes as chunk 1's lease ends
    store.close()
