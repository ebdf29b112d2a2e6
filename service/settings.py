"""Settings from the environment (``TOUSU_`` prefix), built once and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.registry import DEFAULT_HEADS_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    artifacts_dir: Path = Path("artifacts")
    heads_dir: Path = DEFAULT_HEADS_DIR
    encoder_precision: Literal["fp32", "int8"] = "fp32"
    ort_threads: int = Field(0, ge=0, le=64, description="0 = one per core")
    max_tokens: int = Field(256, ge=16, le=512, description="Encoder window length")

    max_text_chars: int = Field(5000, ge=1, le=100_000)
    max_batch_items: int = Field(256, ge=1, le=10_000)
    batch_max_size: int = Field(32, ge=1, le=256)
    batch_max_wait_ms: float = Field(5.0, ge=0.0, le=1000.0)
    batch_queue_size: int = Field(2048, ge=1)

    redis_url: str | None = None
    cache_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    cache_max_items: int = Field(50_000, ge=0, description="In-process LRU size; 0 disables")
    cache_namespace: str = "tousu:analysis:"

    @field_validator("redis_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("host")
    @classmethod
    def _no_wildcard_by_accident(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("host must not be empty")
        return value


def get_settings() -> Settings:
    return Settings()
