"""Request bodies of the HTTP API (the answer schema lives in ``models.schema``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.schema import Analysis
from models.text import VISIBLE_PATTERN
from service.jobs.schemas import DATASET_PATTERN


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalyzeOptions(_In):
    """Per-request options; unknown keys are refused with ``error_type=unknown_option``."""

    cache: bool = Field(True, description="Read and write the answer cache.")
    redact: bool = Field(
        False,
        description="Also return `redacted_text`: the text with personal data replaced by typed placeholders "
        "([PHONE], [EMAIL], [ID_NUMBER], [BANK_CARD], [PERSON], [ADDRESS]).",
    )
    include_pii: bool = Field(
        False,
        description="Return raw values of personal-data entities (phones, e-mails, ID numbers, names, addresses); "
        "by default they are masked (138****8000, 张*). Such answers are never cached.",
    )


class ContextTurn(_In):
    role: Literal["customer", "agent"]
    text: str = Field(max_length=5000)


class MessageFields(_In):
    text: str = Field(
        description="The customer's message, up to the configured limit (TOUSU_MAX_TEXT_CHARS); a text with no visible "
        "character (only white space, zero-width or format characters) is `empty_text`.",
        json_schema_extra={"minLength": 1, "pattern": VISIBLE_PATTERN},  # checked by the route: typed error_type
    )
    id: str | None = Field(None, max_length=256, description="Echoed back in the answer.")
    context: list[ContextTurn] = Field(
        default_factory=list, max_length=20, description="Earlier turns of the conversation, oldest first."
    )
    received_at: datetime | None = Field(None, description="When the message was received; anchors relative dates.")
    customer_id: str | None = Field(
        None, max_length=256, description="Stable customer key for repetition signals (hashed before storage)."
    )
    channel: str | None = Field(
        None, max_length=64, description="Where the message came from (app, phone, weibo...); kept by the store."
    )


_DATASET_DOC = (
    "Opt-in: also keep the answer in the complaint store under this dataset (GET /v1/complaints); "
    "a message with the same dataset and id updates its row."
)


class AnalyzeRequest(MessageFields):
    options: AnalyzeOptions = Field(default_factory=AnalyzeOptions)
    dataset: str | None = Field(None, pattern=DATASET_PATTERN, description=_DATASET_DOC)


class BatchItem(MessageFields):
    pass


class BatchRequest(_In):
    items: list[BatchItem] = Field(min_length=1)
    options: AnalyzeOptions = Field(default_factory=AnalyzeOptions)
    dataset: str | None = Field(None, pattern=DATASET_PATTERN, description=_DATASET_DOC)


class BatchResponse(BaseModel):
    items: list[Analysis]
