"""The complaint store's tables (SQLAlchemy Core): one row per analysed message, its entities, alerts.

The schema is owned by the Alembic migrations in ``service/store/migrations/`` (their own version
table, so the job tables of ``service/jobs/db.py`` can live in the same database); these objects are
what the writer and the queries build statements from, and a test checks that the migrations
produce exactly them.

Times are UNIX seconds (``Double``) as in the job tables: day and week buckets are arithmetic, the
same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# A surrogate key that is a rowid alias on SQLite (INTEGER PRIMARY KEY) and a BIGINT identity on PostgreSQL.
SEQ = BigInteger().with_variant(Integer(), "sqlite")

STATUSES = ("open", "acknowledged", "resolved")
RISK_LEVELS = ("red", "yellow", "blue")
SENTIMENTS = ("negative", "neutral", "positive")

complaints = Table(
    "tousu_complaints",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    Column("dataset", String(128), nullable=False),
    Column("message_id", String(256), nullable=False),
    Column("job_id", String(32)),
    Column("received_at", Double, nullable=False),  # the message's time, or when it was analysed
    Column("channel", String(64)),
    Column("language", String(8)),
    Column("sentiment", String(8)),
    Column("intensity", Double),
    Column("dissatisfied", Boolean),
    Column("hidden_score", Double),
    Column("model_risk_level", String(8)),  # what the model said
    Column("risk_level", String(8)),  # what counts now: the model's level, or red after waiting too long
    Column("risk_score", Double),
    Column("risk_reasons", JSON),  # signal names, largest contribution first (+ "waiting_time")
    Column("category", String(64)),
    Column("category_score", Double),
    Column("topic_id", Integer),
    Column("topic_label", String(256)),
    Column("customer_hash", String(64)),  # salted hash; the salt is a setting, never stored here
    Column("text", Text),  # redacted text only
    Column("status", String(16), nullable=False),
    Column("escalated_at", Double),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    UniqueConstraint("dataset", "message_id", name="uq_tousu_complaints_key"),
    Index("ix_tousu_complaints_received", "received_at", "seq"),
    Index("ix_tousu_complaints_dataset_received", "dataset", "received_at"),
    Index("ix_tousu_complaints_waiting", "status", "risk_level", "received_at"),
)

complaint_entities = Table(
    "tousu_complaint_entities",
    metadata,
    Column("dataset", String(128), primary_key=True),
    Column("message_id", String(256), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("type", String(16), nullable=False),
    # product (PRODUCT), party (ORG: the responsible shop or company), identifier (ORDER_ID and the other
    # identifiers people search by), or null (money, dates, masked personal data)
    Column("role", String(16)),
    Column("value", String(256), nullable=False),  # normalised; personal data masked
    # the complaint's received_at (migration 0004), so that a list filtered by a value reads its newest first
    Column("received_at", Double),
    # No foreign key (migration 0002 explains why): the writer and retention keep the rows consistent.
    Index("ix_tousu_complaint_entities_value", "role", "value", "received_at"),
)

alerts = Table(
    "tousu_alerts",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False),  # dedupe key: one alert per rule and subject
    Column("rule", String(64), nullable=False),  # new_red, waiting_time, ...
    Column("dataset", String(128)),
    Column("message_id", String(256)),
    Column("level", String(8)),
    Column("details", JSON, nullable=False),  # the numbers that fired it
    Column("created_at", Double, nullable=False),
    Column("delivered_at", Double),  # webhook delivery, when one is configured
    Column("attempts", Integer, nullable=False, server_default="0"),  # webhook deliveries tried (migration 0002)
    Column("next_attempt_at", Double),  # when the next delivery may be tried (backoff; a claim between processes)
    UniqueConstraint("key", name="uq_tousu_alerts_key"),
    Index("ix_tousu_alerts_created", "created_at", "seq"),
)

# Counts per hour of received_at (``floor(received_at / 3600)``), dataset, channel and category, kept exact by
# triggers on ``tousu_complaints`` (migration 0003): every insert, re-write, status change, escalation and
# delete adjusts its hour's row in the same transaction. ``ComplaintQueries.stats`` answers from it what it
# can (whole hours; the partial hours at the edges of a period come from the complaints themselves).
complaint_hours = Table(
    "tousu_complaint_hours",
    metadata,
    Column("hour", Integer, nullable=False),
    Column("dataset", String(128), nullable=False),
    Column("channel", String(64)),
    Column("category", String(64)),
    Column("n", BigInteger, nullable=False),
    Column("negative", BigInteger, nullable=False),
    Column("dissatisfied", BigInteger, nullable=False),
    Column("red", BigInteger, nullable=False),
    Column("open", BigInteger, nullable=False),
    # a null channel or category is a value of its own (one row), as it is one group in the plain query
    Index(
        "ux_tousu_complaint_hours_key",
        "hour",
        "dataset",
        "channel",
        "category",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)
