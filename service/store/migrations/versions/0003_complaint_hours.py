"""Hourly counts (``tousu_complaint_hours``) kept exact by triggers, for stats over long periods.

A 30-day ``/v1/stats`` over a store of 10 million complaints aggregated ~800,000 rows per call. The
hourly table holds, per hour x dataset x channel x category, the count and the negative, dissatisfied,
red and open counts. Triggers on ``tousu_complaints`` keep it exact whatever changes a row: the
writer's upsert (a re-write subtracts the old row and adds the new one), a status PATCH, the escalation
sweep, retention deletes, a manual UPDATE. PostgreSQL: statement-level triggers with transition tables
(one grouped upsert per statement, increments commute, so concurrent writers stay exact); SQLite: row
triggers (it has one writer at a time). Existing rows are counted into it here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = "hour, dataset, channel, category, n, negative, dissatisfied, red, open"

# -- PostgreSQL -----------------------------------------------------------------------------------------
# A null sentiment, risk level or dissatisfied flag counts as "no", as in the plain query's CASE.
_PG_MEASURES = """
    floor(received_at / 3600)::integer AS hour, dataset, channel, category,
    {sign} AS n,
    {sign} * coalesce(sentiment = 'negative', false)::integer AS negative,
    {sign} * coalesce(dissatisfied, false)::integer AS dissatisfied,
    {sign} * coalesce(risk_level = 'red', false)::integer AS red,
    {sign} * (status = 'open')::integer AS open"""


def _pg_apply(source: str) -> str:
    return f"""
        INSERT INTO tousu_complaint_hours AS h ({_COLUMNS})
        SELECT hour, dataset, channel, category, sum(n), sum(negative), sum(dissatisfied), sum(red), sum(open)
        FROM ({source}) AS d
        GROUP BY hour, dataset, channel, category
        HAVING sum(n) <> 0 OR sum(negative) <> 0 OR sum(dissatisfied) <> 0 OR sum(red) <> 0 OR sum(open) <> 0
        ORDER BY hour, dataset, channel, category
        ON CONFLICT (hour, dataset, channel, category) DO UPDATE SET
            n = h.n + excluded.n, negative = h.negative + excluded.negative,
            dissatisfied = h.dissatisfied + excluded.dissatisfied, red = h.red + excluded.red,
            open = h.open + excluded.open;"""


_PG_FUNCTION = f"""
CREATE FUNCTION tousu_complaint_hours_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_apply("SELECT " + _PG_MEASURES.format(sign=1) + " FROM new_rows")}
    ELSIF TG_OP = 'DELETE' THEN
        {_pg_apply("SELECT " + _PG_MEASURES.format(sign=-1) + " FROM old_rows")}
    ELSE
        {
    _pg_apply(
        "SELECT "
        + _PG_MEASURES.format(sign=1)
        + " FROM new_rows UNION ALL SELECT "
        + _PG_MEASURES.format(sign=-1)
        + " FROM old_rows"
    )
}
    END IF;
    RETURN NULL;
END $$;
"""
_PG_TRIGGERS = (
    "CREATE TRIGGER tousu_complaint_hours_insert AFTER INSERT ON tousu_complaints "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tousu_complaint_hours_sync()",
    "CREATE TRIGGER tousu_complaint_hours_update AFTER UPDATE ON tousu_complaints "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION tousu_complaint_hours_sync()",
    "CREATE TRIGGER tousu_complaint_hours_delete AFTER DELETE ON tousu_complaints "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tousu_complaint_hours_sync()",
)

# -- SQLite ---------------------------------------------------------------------------------------------
_SQLITE_HOUR = "CAST({r}.received_at / 3600 AS INTEGER)"  # the plain query's buckets truncate the same way


def _sqlite_add(r: str, sign: str) -> str:
    hour = _SQLITE_HOUR.format(r=r)
    where = f"hour = {hour} AND dataset = {r}.dataset AND channel IS {r}.channel AND category IS {r}.category"
    ensure = (
        f"INSERT INTO tousu_complaint_hours ({_COLUMNS}) "
        f"SELECT {hour}, {r}.dataset, {r}.channel, {r}.category, 0, 0, 0, 0, 0 "
        f"WHERE NOT EXISTS (SELECT 1 FROM tousu_complaint_hours WHERE {where});"
    )
    add = (
        f"UPDATE tousu_complaint_hours SET n = n {sign} 1, "
        f"negative = negative {sign} (CASE WHEN {r}.sentiment = 'negative' THEN 1 ELSE 0 END), "
        f"dissatisfied = dissatisfied {sign} (CASE WHEN {r}.dissatisfied = 1 THEN 1 ELSE 0 END), "
        f"red = red {sign} (CASE WHEN {r}.risk_level = 'red' THEN 1 ELSE 0 END), "
        f"open = open {sign} (CASE WHEN {r}.status = 'open' THEN 1 ELSE 0 END) "
        f"WHERE {where};"
    )
    return (ensure if sign == "+" else "") + add


_SQLITE_TRIGGERS = (
    f"CREATE TRIGGER tousu_complaint_hours_insert AFTER INSERT ON tousu_complaints BEGIN {_sqlite_add('NEW', '+')} END",
    "CREATE TRIGGER tousu_complaint_hours_update AFTER UPDATE OF received_at, dataset, channel, category, sentiment, "
    "dissatisfied, risk_level, status ON tousu_complaints "
    f"BEGIN {_sqlite_add('OLD', '-')} {_sqlite_add('NEW', '+')} END",
    f"CREATE TRIGGER tousu_complaint_hours_delete AFTER DELETE ON tousu_complaints BEGIN {_sqlite_add('OLD', '-')} END",
)

_BACKFILL = {
    "postgresql": _pg_apply("SELECT " + _PG_MEASURES.format(sign=1) + " FROM tousu_complaints"),
    "sqlite": f"""
        INSERT INTO tousu_complaint_hours ({_COLUMNS})
        SELECT CAST(received_at / 3600 AS INTEGER), dataset, channel, category, count(*),
            sum(CASE WHEN sentiment = 'negative' THEN 1 ELSE 0 END), sum(CASE WHEN dissatisfied = 1 THEN 1 ELSE 0 END),
            sum(CASE WHEN risk_level = 'red' THEN 1 ELSE 0 END), sum(CASE WHEN status = 'open' THEN 1 ELSE 0 END)
        FROM tousu_complaints GROUP BY 1, 2, 3, 4""",
}


def upgrade() -> None:
    op.create_table(
        "tousu_complaint_hours",
        sa.Column("hour", sa.Integer, nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(64)),
        sa.Column("category", sa.String(64)),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("negative", sa.BigInteger, nullable=False),
        sa.Column("dissatisfied", sa.BigInteger, nullable=False),
        sa.Column("red", sa.BigInteger, nullable=False),
        sa.Column("open", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ux_tousu_complaint_hours_key",
        "tousu_complaint_hours",
        ["hour", "dataset", "channel", "category"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("LOCK TABLE tousu_complaints IN SHARE ROW EXCLUSIVE MODE")  # no write between backfill and triggers
        op.execute(_PG_FUNCTION)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(_BACKFILL[dialect])


def downgrade() -> None:
    for name in ("insert", "update", "delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS tousu_complaint_hours_{name} ON tousu_complaints")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS tousu_complaint_hours_{name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tousu_complaint_hours_sync()")
    op.drop_index("ux_tousu_complaint_hours_key", table_name="tousu_complaint_hours")
    op.drop_table("tousu_complaint_hours")
