"""Worker heartbeats (``service/jobs/heartbeat.py``) on the real Redis: a dead worker's chunk is sent again
without waiting for its lease; a live one's, a cleanly stopped one's and, after Redis restarted empty,
nobody's."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import redis

from service.jobs.files import JobFiles
from service.jobs.heartbeat import Heartbeat, HeartbeatMonitor
from service.jobs.reaper import Reaper
from service.jobs.store import ChunkPlan, JobStore
from tests.jobs_support import job_settings, queued_job, wait_until
from tests.test_jobs_store import RecordingQueue

pytestmark = pytest.mark.redis


def _namespace() -> str:
    return f"tousu-test-{uuid.uuid4().hex[:8]}"


def test_a_worker_that_stops_beating_is_dead_and_a_clean_stop_is_not(redis_client: redis.Redis) -> None:
    ns = _namespace()
    monitor = HeartbeatMonitor(redis_client, ns, 0.4)
    alive = Heartbeat(redis_client, ns, "host:1:aaaaaa", 0.4)
    killed = Heartbeat(redis_client, ns, "host:2:bbbbbb", 0.4)
    stopped = Heartbeat(redis_client, ns, "host:3:cccccc", 0.4)
    for hb in (alive, stopped):
        hb.start()
    killed.beat()  # one beat, then nothing: what SIGKILL leaves behind
    try:
        assert monitor.dead() == []
        stopped.stop()  # hands its chunk back first, then unregisters
        time.sleep(0.6)  # longer than the TTL: the alive one has beaten since, the killed one has not
        assert monitor.dead() == ["host:2:bbbbbb"]
        monitor.forget("host:2:bbbbbb")
        assert monitor.dead() == []
    finally:
        alive.stop()
    redis_client.flushdb()  # Redis restarted empty: registrations go with the keys, nobody is taken for dead
    assert monitor.dead() == []


TTL = 1.0  # heartbeat TTL of the reaper test: long enough for its set-up on a busy machine


def test_reaper_resends_a_dead_workers_chunk_before_its_lease_ends(
    tmp_path: Path, database: str | None, redis_client: redis.Redis
) -> None:
    settings = job_settings(tmp_path, database_url=database, jobs_lease_s=60.0, jobs_heartbeat_ttl_s=TTL)
    store = JobStore.open(database, settings.jobs_dir)
    ns = _namespace()
    live = Heartbeat(redis_client, ns, "live-worker", TTL)
    live.start()
    killed = Heartbeat(redis_client, ns, "killed-worker", TTL)
    queue = RecordingQueue()
    reaper = Reaper(
        store, JobFiles(settings.jobs_dir), queue, lambda _: False, settings, HeartbeatMonitor(redis_client, ns, TTL)
    )
    try:
        job_id = queued_job(store)
        assert store.claim_prepare(job_id, "prep", 30, time.time())
        plans = [ChunkPlan(0, 0, 10), ChunkPlan(1, 10, 10), ChunkPlan(2, 20, 10)]
        assert store.start_running(job_id, "prep", "jsonl", 30, plans, time.time())
        assert store.claim_chunk(job_id, 0, "killed-worker", 60.0, time.time()) == 1
        assert store.claim_chunk(job_id, 1, "live-worker", 60.0, time.time()) == 1
        other = queued_job(store)
        assert store.claim_prepare(other, "killed-worker", 60.0, time.time())  # it was splitting a job too

        killed.beat()  # its last beat (on a busy machine the set-up above may take longer than a TTL)
        assert reaper.reap_dead_workers().orphaned == []  # both beat: nothing to do, whatever the leases
        killed_at = time.time()
        wait_until(lambda: bool(reaper.reap_dead_workers().orphaned), 5, "the killed worker's chunk sent again")
        assert time.time() - killed_at < 2 * TTL + 1.0  # about one TTL, not the 60 s lease
        assert queue.sent == [("chunk", job_id, "0", "front"), ("prepare", other)]
        chunks = {c.idx: c for c in store.chunks(job_id)}
        assert chunks[0].state == "queued" and chunks[0].owner is None  # any worker may claim it now
        assert chunks[1].state == "running" and chunks[1].owner == "live-worker"
        assert not store.extend_chunk(job_id, 0, "killed-worker", time.time() + 60)  # if it was only cut off
        again = store.get_job(other)
        assert again is not None and again.prepare_owner is None
        assert reaper.reap_dead_workers().orphaned == [] and len(queue.sent) == 2  # sent once
    finally:
        live.stop()
        store.close()
