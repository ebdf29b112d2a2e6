"""Entity rows carry their complaint's ``received_at``, indexed after (role, value): a list filtered by a
product, party or identifier reads that value's newest complaints first instead of every match.

On 10 million complaints, the newest 50 of one product took ~200 ms: PostgreSQL either walked the
complaints newest first and probed each one's entities (a common product) or fetched every complaint
with the value and sorted them (a rare one). The writer sets the column (entities are replaced whenever
their complaint is re-written, the only change of ``received_at``); existing rows get it here.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tousu_complaint_entities", sa.Column("received_at", sa.Double))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE tousu_complaint_entities AS e SET received_at = c.received_at FROM tousu_complaints AS c "
            "WHERE c.dataset = e.dataset AND c.message_id = e.message_id"
        )
    else:
        op.execute(
            "UPDATE tousu_complaint_entities SET received_at = (SELECT c.received_at FROM tousu_complaints AS c "
            "WHERE c.dataset = tousu_complaint_entities.dataset AND c.message_id = tousu_complaint_entities.message_id)"
        )
    op.drop_index("ix_tousu_complaint_entities_lookup", table_name="tousu_complaint_entities")
    op.create_index("ix_tousu_complaint_entities_value", "tousu_complaint_entities", ["role", "value", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_tousu_complaint_entities_value", table_name="tousu_complaint_entities")
    op.create_index("ix_tousu_complaint_entities_lookup", "tousu_complaint_entities", ["role", "value"])
    with op.batch_alter_table("tousu_complaint_entities") as batch:  # batch: SQLite before 3.35 cannot drop
        batch.drop_column("received_at")
