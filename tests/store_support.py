"""Fixtures of the complaint-store tests: a store on SQLite and on the real PostgreSQL, and answers to store.

PostgreSQL tests use a database of their own (``tousu_test_store``), created fresh for each test and
dropped after it, so they never touch the job tests' database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.schema import (
    Analysis,
    Category,
    Entity,
    HiddenDissatisfaction,
    Risk,
    RiskReason,
    Sentiment,
    SentimentProbabilities,
    Topic,
)
from service.settings import Settings
from service.store.runtime import ComplaintStore
from tests.jobs_support import fresh_pg_database

PG_DB = "tousu_test_store"
SALT = "pepper-0123456789"


@pytest.fixture
def store_pg_url() -> Iterator[str]:
    with fresh_pg_database(PG_DB) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_database(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite in the jobs dir, the default) or the PostgreSQL URL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("store_pg_url")
    return url


def store_settings(tmp_path: Path, database_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "artifacts_dir": tmp_path,
        "jobs_dir": tmp_path / "jobs",
        "redis_url": None,
        "database_url": database_url,
        "store_salt": SALT,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def store(tmp_path: Path, store_database: str | None) -> Iterator[ComplaintStore]:
    s = ComplaintStore.open(store_settings(tmp_path, store_database))
    yield s
    s.close()


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def analysis(
    *,
    sentiment: str = "negative",
    level: str = "yellow",
    category: str | None = "refund_and_returns",
    topic: int = 1,
    dissatisfied: bool = False,
    entities: list[Entity] | None = None,
) -> Analysis:
    probs = {"negative": 0.1, "neutral": 0.1, "positive": 0.1, sentiment: 0.8}
    return Analysis(
        language="zh",
        traditional=False,
        truncated=False,
        sentiment=Sentiment(
            label=sentiment,  # type: ignore[arg-type]
            score=0.8,
            intensity=0.6,
            probabilities=SentimentProbabilities(**probs),
        ),
        hidden_dissatisfaction=HiddenDissatisfaction(
            detected=dissatisfied, score=0.7 if dissatisfied else 0.1, cues=[]
        ),
        entities=entities or [],
        topic=Topic(id=topic, label=f"topic {topic}", keywords=[], probability=0.6),
        category=Category(name=category, score=0.7) if category else None,
        risk=Risk(
            level=level,  # type: ignore[arg-type]
            score={"red": 0.9, "yellow": 0.5, "blue": 0.1}[level],
            reasons=[RiskReason(signal="negative_intensity", contribution=1.0, detail="x")],
            handoff=level == "red",
        ),
        model_versions={"fake": "1"},
    )


def entity(kind: str, text: str, normalized: Any = None, pii: bool = False, start: int = 0) -> Entity:
    return Entity(
        type=kind, text=text, start=start, end=start + len(text), normalized=normalized, confidence=0.9, pii=pii
    )
