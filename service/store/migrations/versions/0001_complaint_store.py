"""The complaint store: complaints, their entities, alerts.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tousu_complaints",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(256), nullable=False),
        sa.Column("job_id", sa.String(32)),
        sa.Column("received_at", sa.Double, nullable=False),
        sa.Column("channel", sa.String(64)),
        sa.Column("language", sa.String(8)),
        sa.Column("sentiment", sa.String(8)),
        sa.Column("intensity", sa.Double),
        sa.Column("dissatisfied", sa.Boolean),
        sa.Column("hidden_score", sa.Double),
        sa.Column("model_risk_level", sa.String(8)),
        sa.Column("risk_level", sa.String(8)),
        sa.Column("risk_score", sa.Double),
        sa.Column("risk_reasons", sa.JSON),
        sa.Column("category", sa.String(64)),
        sa.Column("category_score", sa.Double),
        sa.Column("topic_id", sa.Integer),
        sa.Column("topic_label", sa.String(256)),
        sa.Column("customer_hash", sa.String(64)),
        sa.Column("text", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escalated_at", sa.Double),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.UniqueConstraint("dataset", "message_id", name="uq_tousu_complaints_key"),
    )
    op.create_index("ix_tousu_complaints_received", "tousu_complaints", ["received_at", "seq"])
    op.create_index("ix_tousu_complaints_dataset_received", "tousu_complaints", ["dataset", "received_at"])
    op.create_index("ix_tousu_complaints_waiting", "tousu_complaints", ["status", "risk_level", "received_at"])
    op.create_table(
        "tousu_complaint_entities",
        sa.Column("dataset", sa.String(128), primary_key=True),
        sa.Column("message_id", sa.String(256), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16)),
        sa.Column("value", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset", "message_id"],
            ["tousu_complaints.dataset", "tousu_complaints.message_id"],
            ondelete="CASCADE",
            name="fk_tousu_complaint_entities_complaint",
        ),
    )
    op.create_index("ix_tousu_complaint_entities_lookup", "tousu_complaint_entities", ["role", "value"])
    op.create_table(
        "tousu_alerts",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(128)),
        sa.Column("message_id", sa.String(256)),
        sa.Column("level", sa.String(8)),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("delivered_at", sa.Double),
        sa.UniqueConstraint("key", name="uq_tousu_alerts_key"),
    )
    op.create_index("ix_tousu_alerts_created", "tousu_alerts", ["created_at", "seq"])


def downgrade() -> None:
    op.drop_table("tousu_alerts")
    op.drop_table("tousu_complaint_entities")
    op.drop_table("tousu_complaints")
