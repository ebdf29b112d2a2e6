"""``tousu evaluate store``: the complaint store at scale on PostgreSQL.

Primary metric: p50 latency of a 30-day ``/v1/stats`` query (grouped by day) over ``--rows`` stored
complaints (target: <= 300 ms at 10 million). Also: p50 of a filtered list page (target <= 100 ms) and
the store's cost per message written through the real writer, against the analysis cost per message of
``evaluation/reports/batch.json`` (target: a job slowed by <= 10%).

Recipe:

1. Migrate a dedicated database (``--database-url``; its store tables are dropped first) and load
   ``--rows`` synthetic complaints with COPY (``DATA_DESCRIPTION``: one year, 8 datasets, 6 channels,
   13 categories, 60 topics; entities: products, responsible parties, order numbers), then ANALYZE.
   The hourly counts' triggers run during the load, as they do in service.
2. Time the service's own queries (``ComplaintQueries``) ``--repeats`` times each with varying filters:
   stats by day over the last 30 days (from the hourly counts, and the plain aggregate for reference),
   stats by category of one dataset, stats by topic (no hourly counts), a list page of open red
   complaints of one dataset, a list page filtered by product; check that the hourly counts and the
   plain query give the same numbers.
3. Write ``--writer-messages`` realistic messages (entities, redaction, salted customer hashes) through
   ``ComplaintWriter`` into the loaded store in chunks of 2,000 as a job does, and compare the time per
   message with the analysis time per message of the batch report.
4. Write ``evaluation/reports/store.{json,md}``; drop the store tables (unless ``--keep-data``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evaluation.report import machine_load, write
from models.topics.taxonomy import Taxonomy

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "evaluation" / "reports"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tousu_eval_store"
TARGETS_MS = {"stats_30d_by_day": 300.0, "page_open_red": 100.0, "page_product": 100.0}
JOB_SLOWDOWN_TARGET = 0.10

CHANNELS = ("app", "web", "phone", "weibo", "wechat", "email")
CATEGORIES = Taxonomy.load().names  # the shipped root-cause categories
COMPLAINT_COLUMNS = (
    "dataset", "message_id", "received_at", "channel", "language", "sentiment", "intensity", "dissatisfied",
    "hidden_score", "model_risk_level", "risk_level", "risk_score", "risk_reasons", "category", "category_score",
    "topic_id", "topic_label", "text", "status", "created_at", "updated_at",
)  # fmt: skip
ENTITY_COLUMNS = ("dataset", "message_id", "idx", "type", "role", "value", "received_at")


DATA_DESCRIPTION = (
    "one year of messages (volume growing linearly from 0.6x to 1.4x the mean, weekends 0.7x a weekday, hours "
    "of a UTC+8 day), written oldest first as a live deployment writes them; 8 datasets (30% ... 3%), 6 channels "
    "(30% ... 6%), 13 categories (Zipf), 60 topics (80% among their category's 4), 4% red / 18% yellow / 78% "
    "blue, sentiment by risk level, ~20% dissatisfied; open: 60% under 2 days old, 15% under 14 days, 3% older; "
    "entities: 40% a product (500, Zipf), 30% a responsible party (300), 50% an order number"
)
DATASETS = tuple(f"shop-{k}" for k in range(8))
DATASET_WEIGHTS = (0.30, 0.20, 0.15, 0.11, 0.09, 0.07, 0.05, 0.03)  # a few large tenants, a tail of small ones
CHANNEL_WEIGHTS = (0.30, 0.22, 0.18, 0.12, 0.12, 0.06)
DAYS = 365
# Share of a day's messages per UTC hour: the customers are in UTC+8 (busy 09:00-23:00 local, quiet at night).
HOUR_WEIGHTS = tuple(
    (0.15 if 0 <= (h + 8) % 24 < 7 else 1.0 if (h + 8) % 24 < 9 else 1.6 if (h + 8) % 24 < 23 else 0.6)
    for h in range(24)
)
SENTIMENT_BY_LEVEL = {  # (negative, neutral, positive) given the risk level
    "red": (0.92, 0.07, 0.01),
    "yellow": (0.7, 0.25, 0.05),
    "blue": (0.32, 0.42, 0.26),
}


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def synthetic_times(rows: int, now: float, rng: random.Random) -> list[float]:
    """``rows`` message times over the last ``DAYS`` days: volume grows linearly from 0.6x to 1.4x the mean
    over the year, weekends carry 0.7x a weekday, and the hours follow a UTC+8 day; newest first."""
    day_weights = []
    for d in range(DAYS):  # d = days before today
        age = d / (DAYS - 1)
        weekday = datetime.fromtimestamp(now - d * 86400, UTC).weekday()
        day_weights.append((1.4 - 0.8 * age) * (0.7 if weekday >= 5 else 1.0))
    days = _cumulative(day_weights)
    hours = _cumulative(HOUR_WEIGHTS)
    today = now - now % 86400
    out = []
    for _ in range(rows):
        d = rng.choices(range(DAYS), cum_weights=days)[0]
        h = rng.choices(range(24), cum_weights=hours)[0]
        t = today - d * 86400 + h * 3600 + rng.random() * 3600
        out.append(t if t < now else t - 86400)
    out.sort(reverse=True)
    return out


def load(engine: Any, rows: int, now: float, seed: int = 7) -> float:
    """COPY ``rows`` synthetic complaints (and their entities) into the store, oldest first as a live
    deployment writes them; returns seconds."""
    rng = random.Random(seed)
    start = time.perf_counter()
    times = synthetic_times(rows, now, rng)
    times.reverse()  # oldest first
    datasets, channels = _cumulative(DATASET_WEIGHTS), _cumulative(CHANNEL_WEIGHTS)
    categories = _cumulative([1 / (k + 1) for k in range(len(CATEGORIES))])  # Zipf: a few causes dominate
    products = _cumulative([1 / (k + 1) for k in range(500)])
    parties = _cumulative([1 / (k + 1) ** 0.8 for k in range(300)])
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            for first in range(0, rows, 100_000):
                n = min(100_000, rows - first)
                entities: list[tuple[Any, ...]] = []
                with cur.copy(f"COPY tousu_complaints ({', '.join(COMPLAINT_COLUMNS)}) FROM STDIN") as copy:
                    for i in range(first, first + n):
                        received = times[i]
                        dataset = rng.choices(DATASETS, cum_weights=datasets)[0]
                        message_id = f"m{i}"
                        c = rng.choices(range(len(CATEGORIES)), cum_weights=categories)[0]
                        # topics: mostly one of the category's own four, sometimes any of the 60
                        topic = c * 4 + rng.randrange(4) if rng.random() < 0.8 else rng.randrange(60)
                        level = rng.choices(("red", "yellow", "blue"), (0.04, 0.18, 0.78))[0]
                        sentiment = rng.choices(("negative", "neutral", "positive"), SENTIMENT_BY_LEVEL[level])[0]
                        dissatisfied = rng.random() < (0.25 if sentiment != "positive" else 0.08)
                        age_days = (now - received) / 86400
                        p_open = 0.6 if age_days < 2 else 0.15 if age_days < 14 else 0.03
                        u = rng.random()
                        status = "open" if u < p_open else "acknowledged" if u < p_open + 0.1 else "resolved"
                        copy.write_row(
                            (
                                dataset, message_id, received, rng.choices(CHANNELS, cum_weights=channels)[0],
                                "zh", sentiment, rng.random(), dissatisfied, rng.random(), level, level,
                                rng.random(), "[]", CATEGORIES[c], rng.random(), topic, f"topic {topic}",
                                "订单[ORDER]的商品有问题，请尽快处理", status, received, received,
                            )
                        )  # fmt: skip
                        if rng.random() < 0.4:
                            product = rng.choices(range(500), cum_weights=products)[0]
                            entities.append(
                                (dataset, message_id, 0, "PRODUCT", "product", f"product-{product}", received)
                            )
                        if rng.random() < 0.3:
                            party = rng.choices(range(300), cum_weights=parties)[0]
                            entities.append((dataset, message_id, 1, "ORG", "party", f"party-{party}", received))
                        if rng.random() < 0.5:
                            entities.append((dataset, message_id, 2, "ORDER_ID", "identifier", f"SF{i:012d}", received))
                with cur.copy(f"COPY tousu_complaint_entities ({', '.join(ENTITY_COLUMNS)}) FROM STDIN") as copy:
                    for row in entities:
                        copy.write_row(row)
                conn.commit()
                if (first + n) % 1_000_000 == 0 or first + n == rows:
                    print(f"   {first + n:,} rows, {time.perf_counter() - start:.0f} s", file=sys.stderr)
            cur.execute("ANALYZE tousu_complaints")
            cur.execute("ANALYZE tousu_complaint_entities")
            cur.execute("ANALYZE tousu_complaint_hours")
        conn.commit()
    finally:
        raw.close()
    return time.perf_counter() - start


def timed(fn: Callable[[int], Any], repeats: int) -> dict[str, float]:
    fn(0)  # warm the connection and the plan cache
    samples = []
    for k in range(repeats):
        start = time.perf_counter()
        fn(k)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 1),
    }


def writer_cost(engine: Any, messages: int, now: float) -> dict[str, Any]:
    """The real writer (row building with redaction and hashing, upsert, entities, hourly counts, alerts) into the
    loaded store: ``messages`` messages of one job's dataset in chunks of 2,000, as a job writes them, received
    over the last 7 days on every channel. Milliseconds per message, and per chunk (p50, max)."""
    from models.schema import (
        Analysis,
        Category,
        Entity,
        HiddenDissatisfaction,
        Risk,
        Sentiment,
        SentimentProbabilities,
        Topic,
    )
    from service.store.rows import Message, RowBuilder
    from service.store.writer import ComplaintWriter

    def analysis(i: int) -> Analysis:
        ents = [
            Entity(type="ORDER_ID", text="SF1234567890", start=2, end=14, normalized={"value": "SF1234567890"},
                   confidence=1.0, pii=False),
            Entity(type="PRODUCT", text="iPhone 15", start=15, end=24, confidence=0.9, pii=False),
        ][: i % 3]  # fmt: skip
        sentiment = ("negative", "neutral", "positive")[i % 3]
        return Analysis(
            language="zh", traditional=False, truncated=False,
            sentiment=Sentiment(label=sentiment, score=0.8, intensity=0.6,  # type: ignore[arg-type]
                                probabilities=SentimentProbabilities(negative=0.8, neutral=0.1, positive=0.1)),
            hidden_dissatisfaction=HiddenDissatisfaction(detected=i % 7 == 0, score=0.2, cues=[]), entities=ents,
            topic=Topic(id=i % 50, label="t", keywords=[], probability=0.5),
            category=Category(name=CATEGORIES[i % len(CATEGORIES)], score=0.6),
            risk=Risk(level=("red", "yellow", "blue", "blue", "blue")[i % 5], score=0.5, reasons=[], handoff=False),
            model_versions={"eval": "1"},
        )  # fmt: skip

    answers = [analysis(i) for i in range(210)]
    run = int(time.time())  # new ids on every run: inserts, as a job's new messages are
    writer = ComplaintWriter(engine, RowBuilder(b"eval-salt"))
    rng = random.Random(3)
    batch = [
        Message(
            "writer-eval", answers[i % 210], f"订单SF1234567890的iPhone 15屏幕坏了，电话13812345678，第{i}次",
            id=f"w{run}-{i}", channel=rng.choice(CHANNELS), customer_id=f"c{i % 997}",
            received_at=datetime.fromtimestamp(now - rng.random() * 7 * 86400, UTC),
        )
        for i in range(messages)
    ]  # fmt: skip
    writer.write(batch[:10], time.time())  # the pool's connection open, statements compiled
    chunks = []
    server_cpu = _server_cpu_s(engine)
    client_cpu = time.process_time()
    start = time.perf_counter()
    for k in range(10, messages, 2000):
        t = time.perf_counter()
        writer.write(batch[k : k + 2000], time.time())
        chunks.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    client_cpu = time.process_time() - client_cpu
    server_cpu = _server_cpu_s(engine) - server_cpu
    written = messages - 10
    chunks.sort()
    return {
        "messages": written,
        "ms_per_message": round(total * 1000 / written, 3),
        "cpu_ms_per_message": round((client_cpu + server_cpu) * 1000 / written, 3),
        "client_cpu_ms_per_message": round(client_cpu * 1000 / written, 3),
        "server_cpu_ms_per_message": round(server_cpu * 1000 / written, 3),
        "chunk_s_p50": round(statistics.median(chunks), 3),
        "chunk_s_max": round(chunks[-1], 3),
    }


def _server_cpu_s(engine: Any) -> float:
    """CPU seconds used so far by the PostgreSQL backends of this database (a local server: /proc)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def drop_store(engine: Any) -> None:
    """Drop the store's tables, triggers and version table (faster than migrating down 10 million rows)."""
    from sqlalchemy import text

    from service.store.migrate import VERSION_TABLE
    from service.store.tables import metadata

    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
        conn.execute(text("DROP FUNCTION IF EXISTS tousu_complaint_hours_sync()"))


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def main(argv: Sequence[str] = ()) -> int:
    p = argparse.ArgumentParser(prog="tousu evaluate store", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000, help="synthetic complaints to load")
    p.add_argument("--database-url", default=os.environ.get("TOUSU_EVAL_DATABASE_URL", DEFAULT_URL))
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--writer-messages", type=int, default=100_000, help="written through the writer into the store")
    p.add_argument("--out", default=str(REPORTS))
    p.add_argument("--why-smaller", help="with --rows below 10,000,000: why, for the report")
    p.add_argument("--reuse", action="store_true", help="keep a store already loaded with --rows rows (no load)")
    p.add_argument("--keep-data", action="store_true", help="leave the loaded tables (default: dropped at the end)")
    args = p.parse_args(list(argv))

    from sqlalchemy import func, select, text

    from service.jobs.db import make_engine
    from service.store import migrate
    from service.store.queries import ComplaintQueries, Filters, GroupBy
    from service.store.tables import complaint_hours, complaints

    if not args.database_url.startswith("postgresql"):
        print("tousu evaluate store: the scale targets are PostgreSQL's (--database-url)", file=sys.stderr)
        return 2
    load_avg, uptime_start = list(os.getloadavg()), _uptime()
    engine = make_engine(args.database_url)
    now = time.time()
    load_s: float | None = None
    with engine.connect() as conn:
        loaded = (
            migrate.current(engine) == migrate.head()
            and conn.execute(select(func.count()).select_from(complaints)).scalar_one() >= args.rows
        )
    reused = args.reuse and loaded
    if reused:
        print("1. reusing the loaded store", file=sys.stderr)
        with engine.connect() as conn:  # what the run that loaded it recorded
            loaded_by = json.loads(
                conn.execute(text("SELECT obj_description('tousu_complaints'::regclass)")).scalar_one() or "{}"
            )
        now, load_s = loaded_by.get("now", now), loaded_by.get("load_s")
    else:
        print("1. migrating and loading", file=sys.stderr)
        drop_store(engine)
        migrate.upgrade(engine)
        load_s = load(engine, args.rows, now)
        with engine.begin() as conn:
            note = json.dumps({"now": now, "load_s": load_s, "rows": args.rows}).replace("'", "")
            conn.execute(text(f"COMMENT ON TABLE tousu_complaints IS '{note}'"))
    with engine.connect() as conn:
        rows_30d = conn.execute(
            select(func.count()).select_from(complaints).where(complaints.c.received_at >= now - 30 * 86400)
        ).scalar_one()
        hour_rows = conn.execute(select(func.count()).select_from(complaint_hours)).scalar_one()
        size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar_one()
    queries = ComplaintQueries(engine)
    rng = random.Random(11)

    def last_30d(k: int, **kw: Any) -> Filters:
        return Filters(since=now - 30 * 86400 - k, until=now, **kw)

    print("2. timing queries", file=sys.stderr)
    results = {
        "stats_30d_by_day": timed(lambda k: queries.stats(last_30d(k), "day"), args.repeats),
        "stats_30d_by_day_plain": timed(lambda k: queries.stats(last_30d(k), "day", hourly=False), args.repeats),
        "stats_30d_by_category_one_dataset": timed(
            lambda k: queries.stats(last_30d(k, dataset=DATASETS[k % len(DATASETS)]), "category"), args.repeats
        ),
        "stats_30d_by_topic": timed(lambda k: queries.stats(last_30d(k), "topic"), args.repeats),
        "page_open_red": timed(
            lambda k: queries.page(Filters(dataset=DATASETS[k % len(DATASETS)], risk_level="red", status="open"), 50),
            args.repeats,
        ),
        "page_product": timed(
            lambda k: queries.page(Filters(product=f"product-{rng.randrange(500)}"), 50), args.repeats
        ),
    }
    checks: list[tuple[Filters, GroupBy]] = [
        (last_30d(17), "day"),
        (last_30d(0, dataset=DATASETS[1]), "category"),
        (Filters(), "week"),
    ]
    same = all(queries.stats(f, g) == queries.stats(f, g, hourly=False) for f, g in checks)
    print("3. writer cost", file=sys.stderr)
    writer = writer_cost(engine, args.writer_messages, now)
    # What the hourly counts cost the writer: the same writes with and without their triggers, one after the
    # other (after the checks above: without the triggers the hours are no longer exact in this database).
    paired = max(2010, args.writer_messages // 5)
    with_hours = writer_cost(engine, paired, now)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE tousu_complaints DISABLE TRIGGER USER"))
    without_hours = writer_cost(engine, paired, now)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE tousu_complaints ENABLE TRIGGER USER"))
    hours_cpu_ms = with_hours["cpu_ms_per_message"] - without_hours["cpu_ms_per_message"]
    batch_report = REPORTS / "batch.json"
    analysis_ms = None
    if batch_report.exists():
        runs = json.loads(batch_report.read_text())["runs"]
        analysis_ms = 1000 / runs[0]["messages_per_s"]
    per_message_ms = writer["ms_per_message"]
    slowdown = per_message_ms / analysis_ms if analysis_ms else None
    slowdown_cpu = writer["cpu_ms_per_message"] / analysis_ms if analysis_ms else None
    if not args.keep_data:
        drop_store(engine)
    engine.dispose()
    load_avg_end, uptime_end = list(os.getloadavg()), _uptime()
    result = {
        "primary_metric": "stats_30d_by_day.p50_ms",
        "rows": args.rows,
        "rows_last_30_days": rows_30d,
        "hour_rows": hour_rows,
        "database_size": size,
        "why_smaller": args.why_smaller,
        "data": DATA_DESCRIPTION,
        "load_s": round(load_s, 1) if load_s is not None else None,
        "queries": results,
        "targets_ms": TARGETS_MS,
        "hourly_equals_plain": same,
        "writer": writer,
        "writer_paired_with_hourly_counts": with_hours,
        "writer_paired_without_hourly_counts": without_hours,
        "writer_ms_per_message": per_message_ms,
        "analysis_ms_per_message": round(analysis_ms, 2) if analysis_ms else None,
        "job_slowdown": round(slowdown, 4) if slowdown is not None else None,
        "job_slowdown_cpu": round(slowdown_cpu, 4) if slowdown_cpu is not None else None,
        "job_slowdown_target": JOB_SLOWDOWN_TARGET,
        "load_average_at_start": load_avg,
        "load_average_at_end": load_avg_end,
        "uptime_at_start": uptime_start,
        "uptime_at_end": uptime_end,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "command": shlex.join([".venv/bin/tousu", "evaluate", "store", *argv]),
    }
    rows_md = "\n".join(
        f"| {name} | {r['p50_ms']} | {r['p95_ms']} | "
        + (
            f"{TARGETS_MS[name]:.0f} | {'yes' if r['p50_ms'] <= TARGETS_MS[name] else 'NO'} |"
            if name in TARGETS_MS
            else "- | - |"
        )
        for name, r in results.items()
    )
    smaller = (
        f"\n**Run on {args.rows:,} rows, not 10,000,000**: {args.why_smaller or 'no reason given'}. The targets are "
        "for 10 million rows; these numbers say the tooling works, not that the targets are met.\n"
        if args.rows < 10_000_000
        else ""
    )
    slow = (
        f"{per_message_ms:.2f} ms per message written (wall clock on this machine as loaded as it was), "
        f"{writer['cpu_ms_per_message']:.2f} ms of CPU per message (this process "
        f"{writer['client_cpu_ms_per_message']:.2f} + PostgreSQL {writer['server_cpu_ms_per_message']:.2f}: what "
        f"a quiet machine would take), against {analysis_ms:.1f} ms of analysis per message "
        f"(`evaluation/reports/batch.json`, a quiet machine): a job (1,000,000 messages or any other size: the "
        f"cost is per message) slowed by about **{100 * slowdown:.1f}%** by wall clock, "
        f"**{100 * (slowdown_cpu or 0):.1f}%** by CPU (target <= {100 * JOB_SLOWDOWN_TARGET:.0f}%)."
        if slowdown is not None and analysis_ms is not None
        else f"{per_message_ms:.2f} ms per message written; no batch report to compare with."
    )
    loaded_md = (
        f"Loading {args.rows:,} synthetic rows (+ entities) with COPY (hourly counts kept by the triggers) and "
        f"ANALYZE: {load_s:.1f} s"
        + (" (measured by the earlier run that loaded the store; this one reused it: `--reuse`)." if reused else ".")
        if load_s is not None
        else "The store was loaded by an earlier run (`--reuse`) that recorded no load time."
    )
    text_md = f"""# Complaint store at scale (PostgreSQL)

Primary metric: **p50 of a 30-day stats query grouped by day** over {args.rows:,} stored complaints
({rows_30d:,} of them in the last 30 days). Command:

    {result["command"]}
{smaller}
| query (the service's own `ComplaintQueries`) | p50 ms | p95 ms | target p50 ms (10M rows) | met |
|---|---|---|---|---|
{rows_md}

- `stats_30d_by_day` is what `/v1/stats?group_by=day` runs: whole hours from `tousu_complaint_hours`
  ({hour_rows:,} rows; hour x dataset x channel x category, kept exact by triggers, migration 0003), the partial
  hours at both ends of the period from the complaints. `stats_30d_by_day_plain` is the same question
  aggregated from the complaints (`hourly=False`), the query before the hourly counts. Both gave the same
  numbers here: **{same}**. `stats_30d_by_topic` cannot use the hourly counts (topic is not one of their
  columns) and shows what such a question costs.
- Data: {DATA_DESCRIPTION}
- {loaded_md} Database size: {size}.
- Writer: {writer["messages"]:,} messages of one dataset (received over the last 7 days, every channel)
  through `ComplaintWriter` into the loaded store in chunks of 2,000 (redaction, hashing, upsert, entities by
  COPY, hourly counts, alerts): chunk p50 {writer["chunk_s_p50"]} s, max {writer["chunk_s_max"]} s. {slow}
- Of that, the hourly counts: {paired:,} messages more with their triggers took {with_hours["cpu_ms_per_message"]}
  ms of CPU per message ({with_hours["ms_per_message"]} wall), {paired:,} without them
  {without_hours["cpu_ms_per_message"]} ({without_hours["ms_per_message"]} wall): about {hours_cpu_ms:.2f} ms of
  CPU per message.
- Machine: {machine_load(load_avg)} At start: `{uptime_start}`; at the end: `{uptime_end}`.
"""
    write(Path(args.out) / "store", result, text_md)
    summary = {k: v["p50_ms"] for k, v in results.items()}
    print(json.dumps(summary | {k: result[k] for k in ("job_slowdown", "job_slowdown_cpu", "hourly_equals_plain")}))
    return 0
