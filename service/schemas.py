"""Request bodies of the HTTP API (the answer schema lives in ``models.schema``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.schema import Analysis


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalyzeOptions(_In):
    """Per-request options; unknown keys are refused with ``error_type=unknown_option``."""

    cache: bool = Field(True, description="Read and write the answer cache.")


class AnalyzeRequest(_In):
    text: str = Field(description="The customer's message, any length up to the configured limit.")
    id: str | None = Field(None, max_length=256, description="Echoed back in the answer.")
    options: AnalyzeOptions = Field(default_factory=AnalyzeOptions)


class BatchItem(_In):
    text: str
    id: str | None = Field(None, max_length=256)


class BatchRequest(_In):
    items: list[BatchItem] = Field(min_length=1)
    options: AnalyzeOptions = Field(default_factory=AnalyzeOptions)


class BatchResponse(BaseModel):
    items: list[Analysis]
