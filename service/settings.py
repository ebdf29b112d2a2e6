"""Settings from the environment (``TOUSU_`` prefix), built once and passed in.

The model runtime's own settings (artifacts, precision, topic and risk options) are in
``models.settings.ModelSettings``, which this class extends with the HTTP, cache and job settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from models.settings import ModelSettings


class Settings(ModelSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    max_text_chars: int = Field(5000, ge=1, le=100_000)
    max_batch_items: int = Field(256, ge=1, le=10_000)
    batch_max_size: int = Field(32, ge=1, le=256)
    batch_max_wait_ms: float = Field(5.0, ge=0.0, le=1000.0)
    batch_queue_size: int = Field(2048, ge=1)

    cache_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    cache_max_items: int = Field(50_000, ge=0, description="In-process LRU size; 0 disables")
    cache_namespace: str = "tousu:analysis:"

    @field_validator("host")
    @classmethod
    def _no_wildcard_by_accident(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("host must not be empty")
        return value


def get_settings() -> Settings:
    return Settings()
