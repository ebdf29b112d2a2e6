"""Schema migrations of the complaint store (Alembic), run at start-up and by ``tousu db upgrade``.

The migration scripts ship inside the package (``service/store/migrations/``), and Alembic is driven
from code with a connection we open, so no ``alembic.ini`` has to sit next to the service. The store
keeps its own version table, so it can share a database with the job tables (which predate it and are
created by ``service.jobs.db.create_schema``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

logger = logging.getLogger(__name__)

VERSION_TABLE = "tousu_store_version"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``. PostgreSQL serialises concurrent start-ups with an advisory lock
    (``migrations/env.py``); on SQLite a process that loses the race finds the schema migrated."""
    config = _config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except (OperationalError, ProgrammingError, IntegrityError) as exc:
        if revision == "head" and current(engine) == head():
            logger.info("store migration raced (%s); another process migrated it", type(exc).__name__)
            return
        raise


def downgrade(engine: Engine, revision: str) -> None:
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
