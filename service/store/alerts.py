"""Alert rules: a versioned JSON file people edit (``resources/alert_rules.json`` is the default), evaluated
on the store by the background sweep.

Each periodic rule compares the last ``period_hours`` with the period before, per dataset, and alerts at
most once per group and period (the alert's key names the period), so the API and every worker can all
evaluate the same rules. ``new_red`` is applied by the writer as rows arrive; ``waiting_time`` alerts come
from the escalation sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import ColumnElement, Connection, Engine, func, or_, select

from service.store.queries import dimension, measures
from service.store.tables import complaints
from service.store.writer import insert_alerts

logger = logging.getLogger(__name__)

DEFAULT_RULES = Path(__file__).resolve().parent / "resources" / "alert_rules.json"
Dimension = Literal["category", "topic", "channel", "product", "party", "sentiment", "risk_level"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z0-9_]{1,64}$")


class _Periodic(_Rule):
    min_count: int = Field(20, ge=1, description="Messages the group needs in the current period")
    period_hours: float = Field(24.0, gt=0, le=24 * 366)


class _Rise(_Periodic):
    rise: float = Field(0.20, gt=0, description="Relative rise against the previous period (0.20 = +20%)")


class NewRed(_Rule):
    type: Literal["new_red"]


class RateRise(_Rise):
    type: Literal["rate_rise"]
    metric: Literal["negative_rate", "dissatisfied_rate", "red_rate"] = "negative_rate"
    by: Dimension = "channel"


class ShareRise(_Rise):
    type: Literal["share_rise"]
    by: Dimension = "category"


class KeywordRise(_Rise):
    type: Literal["keyword_rise"]
    keywords: list[str] = Field(min_length=1)


class SensitiveShare(_Periodic):
    type: Literal["sensitive_share"]
    by: Dimension = "channel"
    words: list[str] = Field(min_length=1)
    threshold: float = Field(0.03, gt=0, lt=1, description="Share of the group's messages with a sensitive word")


Rule = Annotated[NewRed | RateRise | ShareRise | KeywordRise | SensitiveShare, Field(discriminator="type")]


class AlertRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = Field(min_length=1)
    about: str = ""
    rules: list[Rule]

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Rule]) -> list[Rule]:
        names = [r.name for r in rules]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique")
        return rules

    @property
    def new_red(self) -> bool:
        return any(isinstance(r, NewRed) for r in self.rules)


def load_rules(path: Path | None) -> AlertRules:
    """The rules file (refused at start-up when invalid: a typo must not silently disable alerting)."""
    return AlertRules.model_validate_json((path or DEFAULT_RULES).read_bytes())


# -- evaluation ------------------------------------------------------------------------------------
Counts = dict[tuple[str, Any], tuple[int, int, int, int]]  # (dataset, key) -> count, negative, dissatisfied, red


def _window(since: float, until: float) -> list[ColumnElement[bool]]:
    return [complaints.c.received_at >= since, complaints.c.received_at < until]


def _grouped(conn: Connection, by: Dimension, since: float, until: float) -> Counts:
    c = complaints.c
    source, key = dimension(by, conn.dialect.name)
    stmt = (
        select(c.dataset, key, func.count(), *measures())
        .select_from(source)
        .where(*_window(since, until), key.is_not(None))
        .group_by(c.dataset, key)
    )
    return {(r[0], r[1]): (int(r[2]), int(r[3] or 0), int(r[4] or 0), int(r[5] or 0)) for r in conn.execute(stmt)}


def _totals(conn: Connection, since: float, until: float) -> dict[str, int]:
    c = complaints.c
    stmt = select(c.dataset, func.count()).where(*_window(since, until)).group_by(c.dataset)
    return {r[0]: int(r[1]) for r in conn.execute(stmt)}


def _contains_any(words: list[str]) -> ColumnElement[bool]:
    text = func.lower(complaints.c.text)
    escaped = [w.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]
    return or_(*(text.like(f"%{w}%", escape="\\") for w in escaped))


def _matching(conn: Connection, words: list[str], since: float, until: float, by: Dimension | None) -> Counts:
    c = complaints.c
    if by is None:
        stmt = select(c.dataset, func.count()).where(*_window(since, until), _contains_any(words)).group_by(c.dataset)
        return {(r[0], None): (int(r[1]), 0, 0, 0) for r in conn.execute(stmt)}
    source, key = dimension(by, conn.dialect.name)
    stmt = (
        select(c.dataset, key, func.count())
        .select_from(source)
        .where(*_window(since, until), _contains_any(words), key.is_not(None))
        .group_by(c.dataset, key)
    )
    return {(r[0], r[1]): (int(r[2]), 0, 0, 0) for r in conn.execute(stmt)}


_METRIC = {"negative_rate": 1, "dissatisfied_rate": 2, "red_rate": 3}


def _rate(counts: tuple[int, int, int, int], metric: str) -> float:
    return counts[_METRIC[metric]] / counts[0] if counts[0] else 0.0


def _alert(rule: _Rule, bucket: int, dataset: str, key: Any, now: float, details: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": f"{rule.name}:{bucket}:{dataset}:{key}"[:512],
        "rule": rule.name,
        "dataset": dataset,
        "message_id": None,
        "level": None,
        "details": {"type": getattr(rule, "type", None), **details},
        "created_at": now,
    }


def _rises(rule: _Rise, cur: float, prev: float) -> bool:
    return prev > 0 and cur > prev * (1 + rule.rise)


def evaluate(engine: Engine, rules: AlertRules, now: float) -> list[dict[str, Any]]:
    """Alerts the rules raise now (stored; an alert already raised this period is not raised again)."""
    out: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for rule in rules.rules:
            if isinstance(rule, NewRed):
                continue
            period = rule.period_hours * 3600
            bucket = int(now // period)
            cur_w, prev_w = (now - period, now), (now - 2 * period, now - period)
            common = {"period_hours": rule.period_hours, "min_count": rule.min_count}
            if isinstance(rule, RateRise):
                cur, prev = _grouped(conn, rule.by, *cur_w), _grouped(conn, rule.by, *prev_w)
                for (dataset, key), counts in cur.items():
                    before = prev.get((dataset, key))
                    if counts[0] < rule.min_count or before is None:
                        continue
                    now_rate, then = _rate(counts, rule.metric), _rate(before, rule.metric)
                    if _rises(rule, now_rate, then):
                        out.append(_alert(rule, bucket, dataset, key, now, {
                            "by": rule.by, "group": key, "metric": rule.metric, "rise_threshold": rule.rise,
                            "current": {"count": counts[0], "rate": now_rate},
                            "previous": {"count": before[0], "rate": then}, **common,
                        }))  # fmt: skip
            elif isinstance(rule, ShareRise):
                cur, prev = _grouped(conn, rule.by, *cur_w), _grouped(conn, rule.by, *prev_w)
                totals, prev_totals = _totals(conn, *cur_w), _totals(conn, *prev_w)
                for (dataset, key), counts in cur.items():
                    before = prev.get((dataset, key))
                    if counts[0] < rule.min_count or before is None or not prev_totals.get(dataset):
                        continue
                    share, then = counts[0] / totals[dataset], before[0] / prev_totals[dataset]
                    if _rises(rule, share, then):
                        out.append(_alert(rule, bucket, dataset, key, now, {
                            "by": rule.by, "group": key, "rise_threshold": rule.rise,
                            "current": {"count": counts[0], "share": share},
                            "previous": {"count": before[0], "share": then}, **common,
                        }))  # fmt: skip
            elif isinstance(rule, KeywordRise):
                totals, prev_totals = _totals(conn, *cur_w), _totals(conn, *prev_w)
                for word in rule.keywords:
                    cur, prev = _matching(conn, [word], *cur_w, None), _matching(conn, [word], *prev_w, None)
                    for (dataset, _), counts in cur.items():
                        before = prev.get((dataset, None))
                        if counts[0] < rule.min_count or before is None or not prev_totals.get(dataset):
                            continue
                        freq, then = counts[0] / totals[dataset], before[0] / prev_totals[dataset]
                        if _rises(rule, freq, then):
                            out.append(_alert(rule, bucket, dataset, word, now, {
                                "keyword": word, "rise_threshold": rule.rise,
                                "current": {"count": counts[0], "frequency": freq},
                                "previous": {"count": before[0], "frequency": then}, **common,
                            }))  # fmt: skip
            elif isinstance(rule, SensitiveShare):
                groups = _grouped(conn, rule.by, *cur_w)
                hits = _matching(conn, rule.words, *cur_w, rule.by)
                for (dataset, key), counts in groups.items():
                    n = hits.get((dataset, key), (0, 0, 0, 0))[0]
                    if counts[0] >= rule.min_count and n / counts[0] > rule.threshold:
                        out.append(_alert(rule, bucket, dataset, key, now, {
                            "by": rule.by, "group": key, "threshold": rule.threshold,
                            "current": {"count": counts[0], "with_sensitive_words": n, "share": n / counts[0]},
                            **common,
                        }))  # fmt: skip
    if out:
        with engine.begin() as conn:
            insert_alerts(conn, out)
    return out
