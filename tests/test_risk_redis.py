"""The Redis repetition store against the real Redis (database 15, flushed around each test)."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from models.pipeline import AnalysisInput
from models.risk.repetition import RedisRepetitionStore, RepetitionTracker
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis


def test_redis_store_counts_within_the_window_with_a_ttl(redis_client: redis.Redis) -> None:
    store = RedisRepetitionStore(REDIS_URL)
    assert store.record("k", "e1", 1000.0, 100.0) == 1
    assert store.record("k", "e2", 1050.0, 100.0) == 2
    assert store.record("k", "e2", 1050.0, 100.0) == 2  # the same event twice counts once
    assert store.record("k", "e3", 1120.0, 100.0) == 2  # e1 fell out of the window (and was trimmed)
    assert redis_client.zcard("tousu:risk:rep:k") == 2
    assert 0 < redis_client.ttl("tousu:risk:rep:k") <= 100
    store.close()


def test_processes_share_counts_through_the_configured_salt_which_redis_never_holds(
    redis_client: redis.Redis,
) -> None:
    salt = b"a-long-random-secret-from-TOUSU_RISK_SALT"
    redis_client.set("tousu:risk:salt", "what earlier versions kept here")
    a, b = RedisRepetitionStore(REDIS_URL), RedisRepetitionStore(REDIS_URL)
    assert a.forget_stored_salt() and not b.forget_stored_salt()  # deleted at start-up (models/risk/stage.py)
    first, second = RepetitionTracker(a, 3600.0, salt), RepetitionTracker(b, 3600.0, salt)  # two "workers"
    item = AnalysisInput.prepare("宽带又断了", customer_id="13800138000")
    assert first.count(item, {}).count == 1  # type: ignore[union-attr]
    assert second.count(item, {}).count == 2  # type: ignore[union-attr]
    keys = [k.decode() for k in redis_client.keys("*")]
    assert keys and not any("13800138000" in k for k in keys)
    assert not any("salt" in k for k in keys)
    for key in keys:
        for member in redis_client.zrange(key, 0, -1):
            assert b"13800138000" not in member and salt not in member
    # Without the setting each process has its own random salt: nothing in Redis links their keys.
    alone = RepetitionTracker(RedisRepetitionStore(REDIS_URL), 3600.0)
    assert alone.count(item, {}).count == 1  # type: ignore[union-attr]
    assert alone.salt != salt and len(alone.salt) == 32


def test_redis_failure_is_a_logged_degraded_signal(caplog: pytest.LogCaptureFixture) -> None:
    store = RedisRepetitionStore("redis://127.0.0.1:1/15", timeout_s=0.05, retry_after_s=30.0)
    tracker = RepetitionTracker(store, 3600.0)
    item = AnalysisInput.prepare("还是没到", customer_id="c-1")
    with caplog.at_level(logging.WARNING, logger="models.risk.repetition"):
        assert tracker.count(item, {}) is None
        started = time.perf_counter()
        assert store.record("k", "e", 1.0, 10.0) is None  # breaker open: no new attempt
        assert time.perf_counter() - started < 0.01
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "repetition signal off" in warnings[0].getMessage()
    assert "c-1" not in caplog.text
