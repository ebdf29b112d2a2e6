"""Settings the model runtime reads at start-up (``TOUSU_`` environment variables).

``service.settings.Settings`` extends this class with the HTTP, cache and job settings; the
registry hands the instance it was built with to every stage loader (``StageEnv.settings``),
so one object, built once and passed in, configures the whole process.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_HEADS_DIR = PACKAGE_DIR / "heads"
DEFAULT_TAXONOMY = PACKAGE_DIR / "resources" / "topics" / "taxonomy.json"


class ModelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_", extra="ignore")

    artifacts_dir: Path = Path("artifacts")
    heads_dir: Path = DEFAULT_HEADS_DIR
    encoder_precision: Literal["fp32", "int8"] = "int8"
    ort_threads: int = Field(0, ge=0, le=64, description="0 = one per core")
    max_tokens: int = Field(256, ge=16, le=512, description="Encoder window length")
    encoder_streams: int = Field(
        0, ge=0, le=64, description="int8: a batch's windows run as this many concurrent calls (0 = one per core)"
    )
    redis_url: str | None = Field(None, description="Answer cache, job queue and risk repetition counts")

    # Topics (models/topics)
    taxonomy_path: Path = Field(DEFAULT_TAXONOMY, description="Root-cause taxonomy JSON; edits need no retraining")
    category_examples: Path | None = Field(
        None,
        description="Your own labelled messages for the root-cause categories (JSONL {text, category}, 10-20 per "
        "category): the category head is refitted with them at start-up, the encoder is not retrained",
    )
    topic_model_dir: Path | None = Field(None, description="Topic model (default: <heads_dir>/topics)")
    dataset_topics_dir: Path | None = Field(
        None,
        description="Topic models that batch jobs fit per dataset; /v1/analyze with a dataset uses its latest "
        "(service default: <jobs_dir>/topic_models; unset elsewhere: the shipped model only)",
    )

    # Escalation risk (models/risk)
    risk_config_path: Path | None = Field(None, description="Risk config (default: <heads_dir>/risk/risk.json)")
    risk_repeat_window_s: int = Field(
        7 * 24 * 3600, ge=60, le=366 * 24 * 3600, description="How far back repetition counts (and the store TTL)"
    )
    risk_salt: SecretStr | None = Field(
        None,
        description="Secret salt of the customer-id hash, never stored. Required with Redis-backed repetition outside "
        "local use (the service refuses to start); unset in local use: a random salt per process.",
    )
    risk_store_max_keys: int = Field(100_000, ge=1, description="In-process store: most (customer, issue) keys kept")

    @field_validator("redis_url", "risk_salt", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None

    def local_use(self) -> bool:
        """Nothing this process shares is reachable from another machine: no Redis, or Redis on a loopback
        address or a Unix socket. (``service.settings.Settings`` also requires a loopback HTTP host.)"""
        if self.redis_url is None:
            return True
        parts = urlsplit(self.redis_url)
        return parts.scheme == "unix" or is_loopback(parts.hostname or "")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP; a hostname or a wildcard (0.0.0.0) is not."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
