"""The ``risk`` stage (runs last): ``{level, score, reasons, handoff}`` for every message.

Reads the blocks earlier stages wrote (sentiment, hidden dissatisfaction, entities, category),
the risk lexicons and the request's history (repetition, rising heat across ``context``), then
scores them with the versioned config (``models/heads/risk/risk.json``). Cheap: no encoder pass,
a few regular expressions per message and, with a ``customer_id``, one store round trip.

Repetition makes the answer depend on the customer's history, which the answer cache key does
not see: the stage says so with ``stateful = True`` and ``Analyzer.cacheable`` keeps answers of
messages with a ``customer_id`` out of the cache (``service/analysis.py``).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from models.pipeline import Context
from models.risk.config import DEFAULT_CONFIG_NAME, RiskConfig, resources_digest
from models.risk.repetition import RedisRepetitionStore, RepetitionTracker, make_store
from models.risk.scorer import RiskScorer
from models.risk.signals import SignalExtractor
from models.settings import ModelSettings
from models.spec import ModelSpec
from models.stages import StageEnv

logger = logging.getLogger(__name__)
NAME = "risk"
HEAD_DIR = "risk"


class SaltRequiredError(RuntimeError):
    """Redis-backed repetition outside local use without ``TOUSU_RISK_SALT``: the service refuses to start."""


class RiskStage:
    name = NAME

    def __init__(
        self, config: RiskConfig, extractor: SignalExtractor, tracker: RepetitionTracker | None, version: str
    ) -> None:
        self.config = config
        self.scorer = RiskScorer(config)
        self.extractor = extractor
        self.tracker = tracker
        self.version = version
        #: True when answers depend on per-customer history (see ``Analyzer.cacheable``).
        self.stateful = tracker is not None

    def run(self, batch: list[Context]) -> None:
        for ctx in batch:
            repeat = self.tracker.count(ctx.item, ctx.fields) if self.tracker is not None else None
            signals = self.extractor.extract(ctx.item, ctx.language, ctx.fields, repeat)
            ctx.fields[NAME] = self.scorer.score(signals)


def stage_version(config: RiskConfig) -> str:
    """Config version + a digest of the config and the lexicons, so cached answers follow any edit."""
    digest = hashlib.sha256((config.sha256 + resources_digest()).encode()).hexdigest()
    return f"{config.version}+{digest[:8]}"


def describe(config: RiskConfig, store_backend: str, window_s: float) -> dict[str, Any]:
    """What ``/v1/models`` shows: enough to recompute any answer's score from its reasons."""
    return {
        "model": config.raw.get("model"),
        "score": "sigmoid(bias + sum of reason contributions); level by thresholds on score",
        "bias": config.bias,
        "weights": config.weights,
        "thresholds": {"yellow": config.yellow, "red": config.red},
        "handoff": {"levels": sorted(config.handoff_levels), "yellow_with": sorted(config.handoff_yellow_with)},
        "repetition": {
            "store": store_backend,
            "window_s": window_s,
            "issue": config.transform("repetition").get("issue", "any"),
        },
        "held_out": config.raw.get("metrics", {}).get("held_out", {}),
    }


def check_salt(settings: ModelSettings) -> None:
    """Refuse Redis-backed repetition without ``TOUSU_RISK_SALT`` outside local use (``ModelSettings.local_use``).

    Called when the stage loads, and by ``tousu serve`` / ``tousu worker`` before they start, for a clear error.
    """
    config = settings.risk_config_path or settings.heads_dir / HEAD_DIR / DEFAULT_CONFIG_NAME
    if settings.risk_salt is None and settings.redis_url and not settings.local_use() and config.is_file():
        raise SaltRequiredError(
            "TOUSU_RISK_SALT is required: repetition counts live in Redis, shared beyond this machine, and the "
            "salt must not be kept next to the customer-id hashes it protects (anyone reading Redis could "
            "recover the ids). Set TOUSU_RISK_SALT to a long random secret, the same in the API and every "
            'worker: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )


def load_risk_stage(env: StageEnv) -> tuple[RiskStage, ModelSpec] | None:
    """The served stage, or None when no risk config exists (run `tousu train risk`)."""
    settings = env.settings
    path = settings.risk_config_path or env.heads_dir / HEAD_DIR / DEFAULT_CONFIG_NAME
    if not path.is_file():
        logger.warning("no risk config at %s: the risk stage is off (run `tousu train risk`)", path)
        return None
    config = RiskConfig.load(path)
    check_salt(settings)
    salt = settings.risk_salt.get_secret_value().encode("utf-8") if settings.risk_salt else None
    store = make_store(settings.redis_url, settings.risk_store_max_keys)
    if isinstance(store, RedisRepetitionStore) and store.forget_stored_salt():
        logger.warning("deleted the risk salt an earlier version kept in Redis; repetition counts start again")
    if salt is None and store.backend == "redis":
        logger.warning(
            "TOUSU_RISK_SALT is not set (local use): a random salt for this process, so repetition counts are not "
            "shared with other processes and start again at a restart"
        )
    by_category = config.transform("repetition").get("issue", "any") == "category"
    tracker = RepetitionTracker(store, float(settings.risk_repeat_window_s), salt, by_category)
    stage = RiskStage(config, SignalExtractor(config.transforms), tracker, stage_version(config))
    spec = ModelSpec(
        NAME,
        "risk-logistic",
        str(path),
        stage.version,
        config.sha256,
        describe(config, store.backend, settings.risk_repeat_window_s),
    )
    return stage, spec
