"""Bodies of the ``/v1/jobs`` API: the source request, the job status and the report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["queued", "running", "completed", "failed", "cancelled"]
DATASET_PATTERN = r"^[\w.:\- ]{1,128}$"


class JobSourceRequest(BaseModel):
    """A dump the workers read themselves instead of an upload (exactly one of ``path`` and ``url``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # what the route checks: exactly one of them (a null counts as absent)
            "oneOf": [
                {"required": ["path"], "properties": {"path": {"type": "string"}, "url": {"type": "null"}}},
                {"required": ["url"], "properties": {"url": {"type": "string"}, "path": {"type": "null"}}},
            ]
        },
    )

    path: str | None = Field(None, description="A file under the server's TOUSU_JOBS_IMPORT_DIR.")
    url: str | None = Field(
        None,
        max_length=2048,
        description="An http(s) URL under one of TOUSU_JOBS_URL_PREFIXES.",
        json_schema_extra={"pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[!-~]*)?$"},
    )
    dataset: str | None = Field(
        None,
        pattern=DATASET_PATTERN,
        description="Name that links nightly runs; the report compares with the last one.",
    )
    format: Literal["jsonl", "csv"] | None = Field(None, description="Default: detected from the content.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Per-message options, as in /v1/analyze.",
        json_schema_extra={
            "properties": {"redact": {"type": "boolean"}, "include_pii": {"type": "boolean"}},
            "additionalProperties": False,
        },
    )


class JobCounts(BaseModel):
    total: int | None = Field(description="Records in the input (null until the input is split).")
    done: int = Field(description="Records analysed.")
    failed: int = Field(description="Bad records, reported per line in the results.")
    pending: int | None = Field(description="Records not processed yet.")


class JobStatus(BaseModel):
    id: str
    state: JobState
    dataset: str | None
    source: Literal["upload", "path", "url"]
    format: str | None
    options: dict[str, Any]
    created_at: datetime
    prepared_at: datetime | None
    finished_at: datetime | None
    counts: JobCounts
    progress: float = Field(ge=0.0, le=1.0, description="Processed records / total records.")
    rate_per_s: float | None = Field(description="Records per second since the input was split.")
    eta_s: float | None = Field(description="Seconds to completion at the current rate.")
    error: str | None = Field(description="Why the job failed (state failed).")
    links: dict[str, str]


class Share(BaseModel):
    count: int
    share: float


class Example(BaseModel):
    id: str | None
    text: str = Field(description="The message with personal data masked, at most 160 characters.")


class EntityCount(BaseModel):
    text: str
    count: int


class GroupReport(BaseModel):
    key: str = Field(description="Category name or topic id.")
    label: str
    keywords: list[str]
    count: int
    share: float = Field(description="Share of analysed messages.")
    examples: list[Example]
    names: dict[str, str] = Field(default_factory=dict, description="A dataset topic's name per language.")
    facets: dict[str, list[EntityCount]] = Field(
        default_factory=dict, description="Topics: the responsible parties (ORG) and products most named in them."
    )
    trend: list[float | None] = Field(
        default_factory=list,
        description="Topics: share in each of the dataset's last runs, oldest first, this job last (null: absent).",
    )
    trend_label: Literal["new", "rising", "falling", "steady"] | None = Field(
        None, description="This job's share against the mean of the earlier runs (the alert threshold decides)."
    )


class RunSummary(BaseModel):
    job_id: str
    created_at: datetime
    analyzed: int
    topic_model: str | None = Field(None, description="Version of the topic model of that run.")


class ChannelReport(BaseModel):
    channel: str
    count: int
    negative_rate: float | None


class HiddenReport(BaseModel):
    rate: float
    detected: int
    evaluated: int


class Alert(BaseModel):
    kind: Literal["category_share_rise", "topic_share_rise", "new_topic", "negative_rate_rise"]
    key: str | None
    label: str
    message: str
    count: int
    previous_share: float | None
    current_share: float | None
    relative_change: float | None


class Comparison(BaseModel):
    previous_job_id: str
    previous_created_at: datetime
    threshold: float = Field(description="Relative rise that alerts: (share_now - share_before) / share_before.")
    negative_rate_previous: float | None
    negative_rate_change: float | None = Field(description="Absolute change of the negative rate.")
    negative_rate_relative_change: float | None
    model_versions_changed: bool


class ReportCounts(BaseModel):
    total: int
    analyzed: int
    failed: int


class JobReport(BaseModel):
    """The end-of-job report (also rendered as self-contained HTML)."""

    job_id: str
    dataset: str | None
    created_at: datetime
    finished_at: datetime
    counts: ReportCounts
    errors: dict[str, int] = Field(description="Bad records by error_type.")
    sentiment: dict[str, Share] | None
    negative_rate: float | None
    hidden_dissatisfaction: HiddenReport | None
    risk: dict[str, Share] | None
    handoff: int | None
    categories: list[GroupReport] = Field(description="Top categories with masked examples.")
    topics: list[GroupReport] = Field(description="Top topics (outliers, id < 0, excluded) with masked examples.")
    entities: dict[str, list[EntityCount]] = Field(description="Top PRODUCT and ORG entities.")
    channels: list[ChannelReport]
    languages: dict[str, int]
    category_counts: dict[str, int] = Field(description="Every category, for comparisons with later jobs.")
    topic_counts: dict[str, int] = Field(description="Every topic id, for comparisons with later jobs.")
    comparison: Comparison | None = Field(description="Against the previous completed job of the same dataset.")
    alerts: list[Alert]
    model_versions: dict[str, list[str]] = Field(description="More than one version of a model: a mixed-model job.")
    warnings: list[str] = Field(default_factory=list, description="What the job could not do (it still completed).")
    topic_model: dict[str, Any] | None = Field(
        None, description="The dataset topic model this job fitted: version, alignment with the previous, fit time."
    )
    topic_runs: list[RunSummary] = Field(
        default_factory=list, description="The runs the topics' trends cover, oldest first, this job last."
    )
