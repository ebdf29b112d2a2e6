"""Alert webhook delivery (attempts, next attempt: retries with backoff); entity rows without a foreign key.

The foreign key from entities to complaints made PostgreSQL check every entity row with a plan cached
while the table was small (a sequential scan): writes slowed as the store grew (10,000 messages went
from 15 s to 33 s after 20,000). The writer and retention keep the two tables consistent themselves,
in one transaction per batch.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tousu_alerts") as batch:  # batch: SQLite rebuilds the table
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", sa.Double))
    with op.batch_alter_table("tousu_complaint_entities") as batch:
        batch.drop_constraint("fk_tousu_complaint_entities_complaint", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("tousu_complaint_entities") as batch:
        batch.create_foreign_key(
            "fk_tousu_complaint_entities_complaint",
            "tousu_complaints",
            ["dataset", "message_id"],
            ["dataset", "message_id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("tousu_alerts") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
