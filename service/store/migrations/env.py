"""Alembic environment of the complaint store: always run with a connection handed in by
``service.store.migrate.upgrade`` (or ``tousu db upgrade``), never from an ``alembic.ini``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from service.store.migrate import VERSION_TABLE
from service.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # API and workers start together: one migrates, the others wait here and then find it done.
        connection.execute(text("SELECT pg_advisory_xact_lock(7426011801)"))
    context.run_migrations()
