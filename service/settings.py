"""Settings from the environment (``TOUSU_`` prefix), built once and passed in.

The model runtime's own settings (artifacts, precision, topic and risk options) are in
``models.settings.ModelSettings``, which this class extends with the HTTP, cache and job settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from models.settings import ModelSettings, is_loopback


class Settings(ModelSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    max_text_chars: int = Field(5000, ge=1, le=100_000)
    max_batch_items: int = Field(256, ge=1, le=10_000)
    batch_max_size: int = Field(32, ge=1, le=256)
    # How long a batch that already holds two or more requests waits for more (a lone request never
    # waits: models/batcher.py). Under load the batch fills from the queue while the previous one runs.
    batch_max_wait_ms: float = Field(2.0, ge=0.0, le=1000.0)
    # Fair sharing (models/batcher.py): work is counted in encoder windows (up to 248 characters each,
    # at most 16 per message), admitted and scheduled by that cost, not by messages.
    batch_queue_size: int = Field(2048, ge=1, description="Windows queued at most; 429 queue_full beyond")
    batch_max_windows: int = Field(
        8, ge=1, le=4096, description="Windows per model call: a short request waits for at most one such slice"
    )
    batch_express_windows: int = Field(
        2, ge=0, le=16, description="Messages of at most this many windows run beside a big slice (0: they wait)"
    )
    request_max_windows: int = Field(
        512, ge=16, description="Windows one /v1/analyze/batch request may cost (413 cost_limit_exceeded: use /v1/jobs)"
    )
    request_deadline_s: float = Field(
        60.0, gt=0, description="Work still queued this long after it arrived is dropped (503 deadline_exceeded)"
    )
    health_max_queue_wait_s: float = Field(
        2.0, gt=0, description="/health says degraded while a queued request has gone this long without service"
    )
    memory_trim_windows: int = Field(
        64, ge=0, description="After this many windows, an idle batcher returns freed memory to the system (0: never)"
    )

    cache_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    cache_max_items: int = Field(50_000, ge=0, description="In-process LRU size; 0 disables")
    cache_namespace: str = "tousu:analysis:"

    # Batch jobs (service/jobs): with redis_url set, `tousu worker` processes run them; without, the API does.
    jobs_dir: Path = Field(Path("var/jobs"), description="Uploads, chunk inputs and results; shared by all workers")
    database_url: str | None = Field(None, description="SQLAlchemy URL of job metadata; default SQLite in jobs_dir")
    jobs_max_upload_bytes: int = Field(2 * 1024**3, ge=1, description="Largest upload as sent (413 beyond)")
    jobs_max_input_bytes: int = Field(16 * 1024**3, ge=1, description="Largest input after gzip decompression")
    jobs_chunk_size: int = Field(2000, ge=1, le=100_000, description="Records per chunk (unit of checkpointing)")
    jobs_batch_size: int = Field(32, ge=1, le=256, description="Messages per model call inside a chunk")
    jobs_batch_max_chars: int = Field(4000, ge=1, description="Characters per model call (caps worker memory)")
    jobs_lease_s: float = Field(60.0, gt=0, description="A chunk whose worker stops renewing this long is re-run")
    jobs_chunk_timeout_s: float = Field(3600.0, gt=0, description="A chunk running longer is handed to another worker")
    jobs_max_attempts: int = Field(5, ge=1, description="After this many starts a chunk's records are reported failed")
    jobs_reaper_interval_s: float = Field(15.0, gt=0)
    jobs_heartbeat_ttl_s: float = Field(
        2.0, ge=0, description="A worker whose Redis heartbeat is this old is gone: its chunks rerun (0: leases only)"
    )
    jobs_requeue_after_s: float = Field(1800.0, gt=0, description="Re-send a chunk still unclaimed after this long")
    jobs_local_threads: int = Field(1, ge=1, le=16, description="Job threads in the API process without Redis")
    jobs_import_dir: Path | None = Field(None, description="Only directory `path` sources may name (unset: refused)")
    jobs_url_prefixes: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated http(s) URL prefixes `url` sources may use (empty: refused)"
    )
    jobs_result_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="Result files are deleted this long after the end")
    jobs_queue_name: str = Field("tousu-jobs", description="Redis queue (and key namespace) of job messages")
    alert_share_rise: float = Field(0.20, gt=0, description="Relative rise of a topic/category share that alerts")
    alert_min_count: int = Field(20, ge=1, description="Messages a topic/category needs before it can alert")
    jobs_dataset_topics: bool = Field(
        True,
        description="A job of a dataset fits that dataset's own topic model at its end "
        "(needs the [topics] extra and BERTopic; see docker/Dockerfile)",
    )
    jobs_topic_min_messages: int = Field(
        200, ge=20, description="Fewer analysed messages: the job keeps the shipped model's topics (with a warning)"
    )
    jobs_topic_history: int = Field(8, ge=1, le=60, description="Runs of a dataset its job report shows topics over")
    jobs_topic_min_cluster_size: int = Field(
        0, ge=0, description="Fewest messages of a dataset topic (0: sqrt(messages)/2, bounded to 10..200)"
    )
    jobs_topic_fit_max_messages: int = Field(
        100_000,
        ge=0,
        description="UMAP and HDBSCAN fit a dataset's topics on a seeded sample of at most this many messages of the "
        "dump (0: all of them); every message is then assigned to its nearest topic",
    )

    # Complaint store (service/store): every job message, and /v1/analyze requests that name a dataset.
    store_enabled: bool = Field(True, description="Write analysed messages to the complaint store")
    store_salt: SecretStr | None = Field(
        None, description="Secret of the stored customer-id hashes (unset: risk_salt; neither: ids are not stored)"
    )
    store_keep_text: bool = Field(True, description="Store each message's redacted text (personal data replaced)")
    store_retention_days: float = Field(
        365.0, ge=0, description="Complaints and alerts older than this are deleted; 0 keeps them"
    )
    store_sweep_interval_s: float = Field(
        60.0, gt=0, description="Escalation and retention pass, in the API and every worker"
    )
    store_patience_minutes: dict[str, float] = Field(
        default_factory=lambda: {
            "billing_and_charges": 47.0,
            "refund_and_returns": 47.0,
            "privacy_and_data": 30.0,
            "*": 240.0,
        },
        description="Open yellow complaints waiting longer than their category's window (JSON: category -> minutes, "
        "'*' for the others) turn red with the reason waiting_time",
    )
    store_alert_rules_path: Path | None = Field(
        None, description="Alert rules JSON (default: service/store/resources/alert_rules.json); copy it to edit"
    )
    store_webhook_url: str | None = Field(None, description="POST every alert here (JSON, HMAC-signed, retried)")
    store_webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key of X-Tousu-Signature")
    store_webhook_max_attempts: int = Field(8, ge=1, le=100, description="Deliveries tried per alert")

    # Access control (service/auth.py) and per-tenant limits (service/ratelimit.py).
    api_keys: SecretStr | None = Field(
        None,
        description="Comma-separated `tenant:key` (or `tenant:sha256:<hex>`, as `tousu keys` prints); "
        "with keys every /v1/* route needs `Authorization: Bearer <key>`",
    )
    api_keys_file: Path | None = Field(None, description="More keys: `tenant:sha256:<hex>` (or `tenant:key`) a line")
    auth: Literal["on", "off"] = Field(
        "on", description="off: serve without keys even on a non-loopback host (on purpose, behind your own gate)"
    )
    expose_metrics: Literal["open", "key", "off"] = Field("open", description="/metrics: open, needs a key, or 404")
    expose_docs: Literal["open", "key", "off"] = Field(
        "open", description="/docs, /redoc, /openapi.json and /dashboard: open, need a key, or 404"
    )
    rate_limit_rps: float = Field(20.0, ge=0, description="Requests per second per tenant (with keys; 0: no limit)")
    rate_limit_burst: int = Field(40, ge=1, description="Requests a tenant may send at once before the rate applies")
    rate_limit_messages_per_minute: int = Field(
        6000, ge=0, description="Messages analysed per minute per tenant (/v1/analyze*; with keys; 0: no limit)"
    )
    store_tenants: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="With keys: the tenants whose jobs and /v1/analyze datasets feed the complaint store and who may "
        "read it (/v1/complaints, /v1/stats, /v1/alerts); comma-separated. Others get 403 forbidden",
    )
    jobs_max_concurrent: int = Field(4, ge=0, description="Queued or running jobs per tenant (with keys; 0: no limit)")
    jobs_pii_result_ttl_s: int = Field(
        24 * 3600, ge=60, description="include_pii jobs' results are deleted this long after the end (if < result TTL)"
    )

    @field_validator("jobs_url_prefixes", "store_tenants", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("jobs_url_prefixes")
    @classmethod
    def _http_only(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not prefix.lower().startswith(("http://", "https://")) or prefix.count("/") < 3:
                raise ValueError(f"URL prefix must be http(s)://host/...: {prefix!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _empty_database_url_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("store_webhook_url")
    @classmethod
    def _webhook_http(cls, value: str | None) -> str | None:
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError("the webhook URL must be http(s)")
        return value or None

    @field_validator("store_salt", "store_webhook_secret", "store_alert_rules_path", "store_webhook_url", mode="before")
    @classmethod
    def _empty_salt_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("store_patience_minutes")
    @classmethod
    def _positive_patience(cls, value: dict[str, float]) -> dict[str, float]:
        if any(not minutes > 0 for minutes in value.values()):
            raise ValueError("patience windows must be positive minutes")
        return value

    @field_validator("api_keys", "api_keys_file", mode="before")
    @classmethod
    def _empty_keys_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("api_keys")
    @classmethod
    def _keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from service.auth import parse_keys  # the format lives with the code that reads it

            parse_keys(value.get_secret_value(), "TOUSU_API_KEYS")  # raises ValueError naming the bad entry
        return value

    @model_validator(mode="after")
    def _coherent_access(self) -> Settings:
        if self.auth == "off" and (self.api_keys is not None or self.api_keys_file is not None):
            raise ValueError("TOUSU_AUTH=off but API keys are configured: unset one of them")
        if 0 < self.rate_limit_messages_per_minute < self.max_batch_items:
            raise ValueError("rate_limit_messages_per_minute must be 0 or at least max_batch_items (a batch fits)")
        return self

    @model_validator(mode="after")
    def _dataset_topics_next_to_jobs(self) -> Settings:
        if self.dataset_topics_dir is None:  # the jobs write them, /v1/analyze reads them: one default place
            self.dataset_topics_dir = self.jobs_dir / "topic_models"
        return self

    @property
    def dataset_topics_root(self) -> Path:
        return self.dataset_topics_dir or self.jobs_dir / "topic_models"

    def local_use(self) -> bool:
        """Loopback HTTP host and loopback (or no) Redis: what the risk salt check calls local use."""
        return is_loopback(self.host) and super().local_use()

    @field_validator("host")
    @classmethod
    def _no_wildcard_by_accident(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("host must not be empty")
        return value


def get_settings() -> Settings:
    return Settings()
