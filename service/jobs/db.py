"""Job metadata and per-job aggregates in SQL (SQLAlchemy 2): SQLite by default, PostgreSQL in production.

Times are UNIX seconds (``Double``) so that lease arithmetic is the same on every backend. Every
state change that must happen once (claim, completion, cancel, finish) is a conditional UPDATE
whose row count says who won, which both SQLite and PostgreSQL make atomic.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Double,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

logger = logging.getLogger(__name__)

# Job states. queued: accepted, input not split yet; running: chunks exist; the rest are terminal.
QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = "queued", "running", "completed", "failed", "cancelled"
TERMINAL = (COMPLETED, FAILED, CANCELLED)
# Chunk states.
CHUNK_QUEUED, CHUNK_RUNNING, CHUNK_DONE, CHUNK_SKIPPED = "queued", "running", "done", "skipped"


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "tousu_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str | None] = mapped_column(String(64), index=True)  # API key's tenant; None: made without keys
    pii: Mapped[bool | None] = mapped_column(Boolean)  # include_pii: raw personal data in results, kept shorter
    dataset: Mapped[str | None] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    source_kind: Mapped[str] = mapped_column(String(8))  # upload | path | url
    source: Mapped[str | None] = mapped_column(Text)  # the path or URL; None for uploads
    input_format: Mapped[str | None] = mapped_column(String(8))  # jsonl | csv; None: decided when prepared
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    chunk_size: Mapped[int] = mapped_column(Integer)
    total: Mapped[int | None] = mapped_column(Integer)
    n_chunks: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double, index=True)
    enqueued_at: Mapped[float | None] = mapped_column(Double)  # prepare message last sent
    message_id: Mapped[str | None] = mapped_column(String(64))  # its broker id, to notice a lost message
    # Who holds the job and until when: its preparer while it is queued, its finisher (merge, the dataset's topic
    # fit, the report) once every chunk is done, so that one process finishes it, not every reaper at once.
    prepare_owner: Mapped[str | None] = mapped_column(String(128))
    prepare_lease_until: Mapped[float | None] = mapped_column(Double)
    prepared_at: Mapped[float | None] = mapped_column(Double)
    finished_at: Mapped[float | None] = mapped_column(Double)
    purged_at: Mapped[float | None] = mapped_column(Double)  # result files deleted (retention)
    model_versions: Mapped[dict[str, str] | None] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ChunkRow(Base):
    __tablename__ = "tousu_job_chunks"
    __table_args__ = (Index("ix_tousu_job_chunks_state_lease", "state", "lease_until"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("tousu_jobs.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    first: Mapped[int] = mapped_column(Integer)  # input position of the chunk's first record
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[float | None] = mapped_column(Double)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[float | None] = mapped_column(Double)
    message_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[float | None] = mapped_column(Double)
    finished_at: Mapped[float | None] = mapped_column(Double)
    analyzed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[str | None] = mapped_column(String(128))  # results file name, written before this row
    aggregate: Mapped[dict[str, Any] | None] = mapped_column(JSON)


DEFAULT_DB = "tousu.db"


def database_url(url: str | None, jobs_dir: Path) -> str:
    """The configured URL, or a SQLite file in the jobs directory."""
    return url or f"sqlite:///{(jobs_dir / DEFAULT_DB).resolve()}"


def make_engine(url: str) -> Engine:
    """An engine that never prints bound parameters (they can hold report examples) in errors or logs."""
    if url.startswith("sqlite"):
        _private_sqlite_file(make_url(url).database)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True, pool_pre_ping=True
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL: readers never block the writer; several worker processes on one machine share the file.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, hide_parameters=True, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _private_sqlite_file(database: str | None) -> None:
    """Create the SQLite file 0600 before SQLite does (with the umask's mode): its -wal and -shm files take the
    database's mode, and all of them hold dataset names and reports. An existing file is made 0600 too."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite will fail with its own error
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for name in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, 0o600)


def create_schema(engine: Engine) -> None:
    """Create missing tables and add the columns later versions added. Two processes starting at once may race;
    the loser sees them created."""
    try:
        Base.metadata.create_all(engine)
    except (OperationalError, ProgrammingError, IntegrityError) as exc:  # "already exists": a concurrent create
        logger.info("schema creation raced (%s); checking again", type(exc).__name__)
        Base.metadata.create_all(engine)
    try:
        _add_columns(engine)
    except (OperationalError, ProgrammingError) as exc:  # "duplicate column": another process added it first
        logger.info("job-table upgrade raced (%s); checking again", type(exc).__name__)
        _add_columns(engine)


#: Columns added to ``tousu_jobs`` after its first release (``create_all`` never alters a table): name -> DDL type.
ADDED_COLUMNS = {"tenant": "VARCHAR(64)", "pii": "BOOLEAN"}


def _add_columns(engine: Engine) -> None:
    """Bring an older job table up to date: the tenant column (jobs made before keys belong to no tenant, so no
    tenant can see them) and the ``pii`` flag (set from the job's options, so retention finds include_pii jobs)."""
    present = {c["name"] for c in inspect(engine).get_columns(JobRow.__tablename__)}
    missing = [name for name in ADDED_COLUMNS if name not in present]
    if not missing:
        return
    with engine.begin() as conn:
        for name in missing:
            conn.execute(text(f"ALTER TABLE {JobRow.__tablename__} ADD COLUMN {name} {ADDED_COLUMNS[name]}"))
        if "tenant" in missing:
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_tousu_jobs_tenant ON {JobRow.__tablename__} (tenant)"))
        if "pii" in missing:
            rows = conn.execute(select(JobRow.id, JobRow.options)).all()
            with_pii = [r[0] for r in rows if isinstance(r[1], dict) and r[1].get("include_pii")]
            if with_pii:
                conn.execute(update(JobRow).where(JobRow.id.in_(with_pii)).values(pii=True))
    logger.info("job table upgraded: added %s", ", ".join(missing))
