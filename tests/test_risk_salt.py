"""The repetition salt is a setting, never stored beside the hashes: Redis-backed repetition outside local
use without ``TOUSU_RISK_SALT`` refuses to start (models/risk/stage.py ``check_salt``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from models.fake import FakeEncoder
from models.pipeline import AnalysisInput
from models.risk.repetition import MemoryRepetitionStore, RepetitionTracker
from models.risk.stage import SaltRequiredError, check_salt, load_risk_stage
from models.settings import ModelSettings
from models.stages import StageEnv
from service import cli
from service.settings import Settings
from tests.conftest import REDIS_URL

SALT = "a-long-random-secret-0123456789"


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        (ModelSettings(redis_url="redis://redis:6379/0"), True),  # Redis on another machine
        (ModelSettings(redis_url="rediss://cache.internal:6380/0"), True),
        (ModelSettings(redis_url="redis://redis:6379/0", risk_salt=SALT), False),
        (ModelSettings(redis_url="redis://127.0.0.1:6379/0"), False),  # local use: a per-process salt
        (ModelSettings(redis_url="unix:///run/redis.sock"), False),
        (ModelSettings(redis_url=None), False),  # in-process store
        (Settings(redis_url="redis://127.0.0.1:6379/0", host="0.0.0.0", auth="off"), True),  # served beyond here
        (Settings(redis_url="redis://localhost:6379/0", host="127.0.0.1"), False),
    ],
)
def test_redis_repetition_outside_local_use_needs_the_salt(settings: ModelSettings, refused: bool) -> None:
    if refused:
        with pytest.raises(SaltRequiredError, match="TOUSU_RISK_SALT is required"):
            check_salt(settings)
    else:
        check_salt(settings)


def test_the_risk_stage_refuses_to_load_without_the_salt(tmp_path: Path) -> None:
    env = StageEnv(
        heads_dir=ModelSettings().heads_dir,
        artifacts_dir=tmp_path,
        encoder=FakeEncoder(),
        settings=ModelSettings(redis_url="redis://redis:6379/0"),
    )
    with pytest.raises(SaltRequiredError):
        load_risk_stage(env)
    # no risk config: no repetition, nothing to refuse
    check_salt(ModelSettings(redis_url="redis://redis:6379/0", risk_config_path=tmp_path / "none.json"))


@pytest.mark.redis
def test_a_loaded_stage_keeps_no_salt_in_redis(tmp_path: Path, redis_client: redis.Redis) -> None:
    redis_client.set("tousu:risk:salt", "left by an earlier version")
    settings = ModelSettings(redis_url=REDIS_URL)  # local use: loopback Redis, no salt set
    loaded = load_risk_stage(StageEnv(ModelSettings().heads_dir, tmp_path, FakeEncoder(), settings=settings))
    assert loaded is not None
    stage, _ = loaded
    assert redis_client.get("tousu:risk:salt") is None  # deleted: the hashes it salted cannot be linked any more
    assert stage.tracker is not None
    stage.tracker.count(AnalysisInput.prepare("又断网了", customer_id="13800138000"), {})
    assert redis_client.keys("*rep:*") and not redis_client.keys("*salt*")
    stage.tracker.store.close()


def test_without_the_setting_each_process_salts_on_its_own() -> None:
    a, b = RepetitionTracker(MemoryRepetitionStore(), 60.0), RepetitionTracker(MemoryRepetitionStore(), 60.0)
    assert a.salt != b.salt
    assert a.customer_key("c-1", a.salt) != b.customer_key("c-1", b.salt)
    configured = RepetitionTracker(MemoryRepetitionStore(), 60.0, SALT.encode())
    assert configured.salt == SALT.encode()


def test_tousu_worker_refuses_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOUSU_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.delenv("TOUSU_RISK_SALT", raising=False)
    assert cli.main(["worker"]) == 2
    assert "TOUSU_RISK_SALT is required" in capsys.readouterr().err
