"""The end-of-job report: counts, shares, masked examples, and alerts against the previous run.

Alerts compare with the previous completed job of the same ``dataset``. A share "rises" when
``(share_now - share_before) / share_before > TOUSU_ALERT_SHARE_RISE`` (relative; 0.20 means a
topic that was 10% of messages alerts above 12%), and only for groups with at least
``TOUSU_ALERT_MIN_COUNT`` messages so that tiny groups do not flap. A topic id never seen in the
previous job is a new topic. The negative rate alerts on the same relative rise.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from service.jobs.aggregate import ENTITY_TYPES, Aggregate, Group
from service.jobs.schemas import (
    Alert,
    ChannelReport,
    Comparison,
    EntityCount,
    Example,
    GroupReport,
    HiddenReport,
    JobReport,
    ReportCounts,
    RunSummary,
    Share,
)

TOP_GROUPS = 10
TOP_TOPICS = 30
TOP_ENTITIES = 20
TOP_CHANNELS = 20
RISK_LEVELS = ("red", "yellow", "blue")
SENTIMENTS = ("negative", "neutral", "positive")


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _shares(counts: dict[str, int], order: tuple[str, ...]) -> dict[str, Share] | None:
    total = sum(counts.values())
    if not total:
        return None
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return {k: Share(count=counts[k], share=round(counts[k] / total, 4)) for k in keys}


def _groups(groups: dict[str, Group], analyzed: int, topics: bool) -> list[GroupReport]:
    items = [(k, g) for k, g in groups.items() if not topics or not k.lstrip("-").isdigit() or int(k) >= 0]
    items.sort(key=lambda kv: (-kv[1].count, kv[0]))
    return [
        GroupReport(
            key=key,
            label=group.label or key,
            keywords=group.keywords,
            count=group.count,
            share=round(group.count / analyzed, 4) if analyzed else 0.0,
            examples=[Example(id=e["id"], text=e["text"]) for e in group.examples],
            names=group.names,
            facets={kind: [EntityCount(text=str(n), count=int(c)) for n, c in v] for kind, v in group.facets.items()},
        )
        for key, group in items[: TOP_TOPICS if topics else TOP_GROUPS]
    ]


def _trends(report: JobReport, history: list[dict[str, Any]], threshold: float) -> None:
    """Each topic's share over the dataset's earlier runs (``history``: newest first) and this one."""
    runs: list[tuple[RunSummary, dict[str, int]]] = []
    for raw in reversed(history):
        try:
            before = JobReport.model_validate(raw)
        except ValidationError:
            continue  # a report of an older version: left out of the trend
        version = ", ".join(before.model_versions.get("topic", [])) or None
        runs.append(
            (
                RunSummary(
                    job_id=before.job_id,
                    created_at=before.created_at,
                    analyzed=before.counts.analyzed,
                    topic_model=version,
                ),
                before.topic_counts,
            )
        )
    now = RunSummary(
        job_id=report.job_id,
        created_at=report.created_at,
        analyzed=report.counts.analyzed,
        topic_model=", ".join(report.model_versions.get("topic", [])) or None,
    )
    report.topic_runs = [r for r, _ in runs] + [now]
    for group in report.topics:
        earlier = [counts.get(group.key, 0) / run.analyzed if run.analyzed else None for run, counts in runs]
        group.trend = [None if v is None else round(v, 4) for v in earlier] + [group.share]
        seen = [v for v in earlier if v]
        if not seen:
            group.trend_label = "new" if runs else None
            continue
        mean = sum(seen) / len(seen)
        change = (group.share - mean) / mean
        group.trend_label = "rising" if change > threshold else "falling" if change < -threshold else "steady"


def build_report(
    job_id: str,
    dataset: str | None,
    created_at: float,
    finished_at: float,
    total: int,
    agg: Aggregate,
    previous: dict[str, Any] | None,
    threshold: float,
    min_count: int,
    history: list[dict[str, Any]] | None = None,
    warnings: list[str] | None = None,
    topic_model: dict[str, Any] | None = None,
) -> JobReport:
    """``history``: reports of the dataset's earlier runs, newest first (``previous`` is usually the first)."""
    sentiment = _shares(dict(agg.sentiment), SENTIMENTS)
    n_sentiment = sum(agg.sentiment.values())
    negative_rate = round(agg.sentiment["negative"] / n_sentiment, 4) if n_sentiment else None
    report = JobReport(
        job_id=job_id,
        dataset=dataset,
        created_at=_ts(created_at),
        finished_at=_ts(finished_at),
        counts=ReportCounts(total=total, analyzed=agg.analyzed, failed=agg.failed),
        errors=dict(sorted(agg.errors.items())),
        sentiment=sentiment,
        negative_rate=negative_rate,
        hidden_dissatisfaction=(
            HiddenReport(
                rate=round(agg.hidden_detected / agg.hidden_evaluated, 4),
                detected=agg.hidden_detected,
                evaluated=agg.hidden_evaluated,
            )
            if agg.hidden_evaluated
            else None
        ),
        risk=_shares(dict(agg.risk), RISK_LEVELS),
        handoff=agg.handoff if agg.risk else None,
        categories=_groups(agg.categories, agg.analyzed, topics=False),
        topics=_groups(agg.topics, agg.analyzed, topics=True),
        entities={
            kind: [EntityCount(text=t, count=c) for t, c in agg.entities[kind].most_common(TOP_ENTITIES)]
            for kind in ENTITY_TYPES
            if agg.entities.get(kind)
        },
        channels=[
            ChannelReport(
                channel=channel,
                count=counts["count"],
                negative_rate=round(counts["negative"] / counts["count"], 4) if n_sentiment else None,
            )
            for channel, counts in sorted(agg.channels.items(), key=lambda kv: (-kv[1]["count"], kv[0]))[:TOP_CHANNELS]
        ],
        languages=dict(agg.languages.most_common()),
        category_counts={k: g.count for k, g in agg.categories.items()},
        topic_counts={k: g.count for k, g in agg.topics.items()},
        comparison=None,
        alerts=[],
        model_versions=agg.versions,
        warnings=list(warnings or []),
        topic_model=topic_model,
    )
    if previous is not None:
        report.comparison, report.alerts = compare(report, previous, threshold, min_count)
    _trends(report, history or ([] if previous is None else [previous]), threshold)
    return report


def compare(
    current: JobReport, previous: dict[str, Any], threshold: float, min_count: int
) -> tuple[Comparison, list[Alert]]:
    """Alerts of ``current`` against the stored report of the previous job of the same dataset."""
    before = JobReport.model_validate(previous)
    alerts: list[Alert] = []
    for kind, now_counts, then_counts, labels in (
        ("category", current.category_counts, before.category_counts, {}),
        ("topic", current.topic_counts, before.topic_counts, _labels(current, before)),
    ):
        if not then_counts or not before.counts.analyzed or not current.counts.analyzed:
            continue  # the task was not served last time: nothing to compare with
        if kind == "topic" and (current.topic_model is None) != (before.topic_model is None):
            continue  # one of the two jobs has the dataset's own topics, the other the shipped model's: other ids
        for key, count in sorted(now_counts.items()):
            if count < min_count or (kind == "topic" and key.lstrip("-").isdigit() and int(key) < 0):
                continue
            share = count / current.counts.analyzed
            label = labels.get(key, key)
            prev = then_counts.get(key, 0)
            prev_share = prev / before.counts.analyzed
            if prev == 0:
                alerts.append(
                    Alert(
                        kind="new_topic" if kind == "topic" else "category_share_rise",
                        key=key,
                        label=label,
                        message=f"{kind} '{label}' is new: {count} messages ({share:.1%}), none in the previous job",
                        count=count,
                        previous_share=0.0,
                        current_share=round(share, 4),
                        relative_change=None,
                    )
                )
                continue
            rise = (share - prev_share) / prev_share
            if rise > threshold:
                alerts.append(
                    Alert(
                        kind="topic_share_rise" if kind == "topic" else "category_share_rise",
                        key=key,
                        label=label,
                        message=f"{kind} '{label}' rose from {prev_share:.1%} to {share:.1%} of messages (+{rise:.0%})",
                        count=count,
                        previous_share=round(prev_share, 4),
                        current_share=round(share, 4),
                        relative_change=round(rise, 4),
                    )
                )
    neg_change = neg_relative = None
    if current.negative_rate is not None and before.negative_rate is not None:
        neg_change = round(current.negative_rate - before.negative_rate, 4)
        if before.negative_rate > 0:
            neg_relative = round(neg_change / before.negative_rate, 4)
            negatives = (
                current.sentiment["negative"].count if current.sentiment and "negative" in current.sentiment else 0
            )
            if neg_relative > threshold and negatives >= min_count:
                alerts.append(
                    Alert(
                        kind="negative_rate_rise",
                        key=None,
                        label="negative",
                        message=f"negative rate rose from {before.negative_rate:.1%} to {current.negative_rate:.1%} "
                        f"(+{neg_relative:.0%})",
                        count=negatives,
                        previous_share=before.negative_rate,
                        current_share=current.negative_rate,
                        relative_change=neg_relative,
                    )
                )
    order = {"negative_rate_rise": 0, "new_topic": 1, "topic_share_rise": 2, "category_share_rise": 3}
    alerts.sort(key=lambda a: (order[a.kind], -(a.relative_change or float("inf")), a.key or ""))
    comparison = Comparison(
        previous_job_id=before.job_id,
        previous_created_at=before.created_at,
        threshold=threshold,
        negative_rate_previous=before.negative_rate,
        negative_rate_change=neg_change,
        negative_rate_relative_change=neg_relative,
        model_versions_changed=current.model_versions != before.model_versions,
    )
    return comparison, alerts


def _labels(current: JobReport, before: JobReport) -> dict[str, str]:
    labels = {g.key: g.label for g in before.topics}
    labels.update({g.key: g.label for g in current.topics})
    return labels


# -- HTML -------------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;margin:2rem auto;
max-width:960px;color:#1d2329;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #dde1e6}
.meta{color:#5b6670}table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{padding:.3rem .5rem;border-bottom:1px solid #eef0f2;text-align:left;vertical-align:top}
th{font-weight:600;color:#5b6670}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bar{background:#e9edf1;height:.7rem;width:160px;border-radius:3px}.bar>i{display:block;height:100%;border-radius:3px}
.negative,.red{background:#d64545}.neutral,.yellow{background:#e0b040}.positive,.blue{background:#3d7fd6}
.alerts{background:#fff4e5;border:1px solid #f0c36d;border-radius:6px;padding:.5rem 1rem}
.spark{display:inline-flex;align-items:flex-end;height:1.4rem;gap:2px}.spark>i{display:block;width:6px;min-height:1px}
.ok{color:#2b7a3d}ul.ex{margin:.2rem 0;padding-left:1.1rem;color:#3b4550}small{color:#5b6670}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _bar(share: float, css: str) -> str:
    return f'<div class="bar"><i class="{_e(css)}" style="width:{max(0.0, min(share, 1.0)) * 100:.1f}%"></i></div>'


def _share_table(title: str, shares: dict[str, Share] | None) -> str:
    if not shares:
        return f"<h2>{_e(title)}</h2><p><small>not served by this deployment</small></p>"
    rows = "".join(
        f'<tr><td>{_e(k)}</td><td class="num">{s.count}</td><td class="num">{_pct(s.share)}</td>'
        f"<td>{_bar(s.share, k)}</td></tr>"
        for k, s in shares.items()
    )
    return f"<h2>{_e(title)}</h2><table><tr><th></th><th>messages</th><th>share</th><th></th></tr>{rows}</table>"


def _spark(trend: list[float | None], css: str = "blue") -> str:
    """Share per run as small inline bars (oldest first), scaled to the largest share of the topic."""
    top = max((v for v in trend if v), default=0.0) or 1.0
    bars = "".join(
        f'<i class="{_e(css)}" title="{_pct(v)}" style="height:{(v or 0) / top * 100:.0f}%"></i>' for v in trend
    )
    return f'<span class="spark">{bars}</span>'


def _facets(group: GroupReport) -> str:
    parts = []
    for kind, title in (("ORG", "parties"), ("PRODUCT", "products")):
        items = group.facets.get(kind) or []
        if items:
            parts.append(f"<small>{title}: {_e(', '.join(f'{i.text} ({i.count})' for i in items))}</small>")
    return "<br>".join(parts)


def _topic_table(report: JobReport) -> str:
    """Topics with name, size, share per run (trend), facets and examples."""
    groups = report.topics
    if not groups:
        return "<h2>Topics</h2><p><small>none (not served by this deployment, or no messages)</small></p>"
    runs = report.topic_runs
    model = report.topic_model
    if model:
        stats = model.get("stats", {})
        head = (
            f"<p class='meta'>the dataset's own topic model {_e(model.get('version'))}: {stats.get('n_topics')} topics "
            f"fitted on this dump in {stats.get('total_s')} s; ids matched to the previous run's: "
            f"{model.get('matched')}, new: {len(model.get('new') or [])}, vanished: {len(model.get('vanished') or [])}"
            "</p>"
        )
    else:
        head = "<p class='meta'>topics of the shipped generic model</p>"
    when = " · ".join(_e(r.created_at.strftime("%m-%d")) for r in runs)
    rows = []
    for g in groups:
        examples = "".join(f"<li>{_e(e.text)}</li>" for e in g.examples)
        other = "".join(
            f"<br><small>{_e(lang)}: {_e(name)}</small>" for lang, name in g.names.items() if name != g.label
        )
        trend = f"{_spark(g.trend)} <small>{_e(g.trend_label or '')}</small>" if len(g.trend) > 1 else ""
        rows.append(
            f"<tr><td>{_e(g.label)}{other}<br>{_facets(g)}</td><td class='num'>{g.count}</td>"
            f"<td class='num'>{_pct(g.share)}</td><td>{trend}</td><td><ul class='ex'>{examples}</ul></td></tr>"
        )
    header = (
        "<tr><th>topic (parties, products)</th><th>messages</th><th>share</th>"
        f"<th>share per run<br><small>{when}</small></th><th>examples (personal data masked)</th></tr>"
    )
    return f"<h2>Topics</h2>{head}<table>{header}{''.join(rows)}</table>"


def _group_table(title: str, groups: list[GroupReport]) -> str:
    if not groups:
        return f"<h2>{_e(title)}</h2><p><small>none (not served by this deployment, or no messages)</small></p>"
    rows = []
    for g in groups:
        examples = "".join(f"<li>{_e(e.text)}</li>" for e in g.examples)
        keywords = f"<br><small>{_e(', '.join(g.keywords))}</small>" if g.keywords else ""
        rows.append(
            f'<tr><td>{_e(g.label)}{keywords}</td><td class="num">{g.count}</td><td class="num">{_pct(g.share)}</td>'
            f'<td><ul class="ex">{examples}</ul></td></tr>'
        )
    head = "<tr><th></th><th>messages</th><th>share</th><th>examples (personal data masked)</th></tr>"
    return f"<h2>{_e(title)}</h2><table>{head}{''.join(rows)}</table>"


def render_html(report: JobReport) -> str:
    """A single self-contained page (inline CSS, no scripts, every value escaped)."""
    r = report
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>tousu report {_e(r.dataset or r.job_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Complaint report{(' · ' + _e(r.dataset)) if r.dataset else ''}</h1>",
        f"<p class='meta'>job {_e(r.job_id)} · created {_e(r.created_at.isoformat(timespec='seconds'))} · finished "
        f"{_e(r.finished_at.isoformat(timespec='seconds'))}<br>{r.counts.total} records: {r.counts.analyzed} analysed, "
        f"{r.counts.failed} bad records</p>",
    ]
    if r.warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in r.warnings)
        parts.append(f"<h2>Warnings</h2><div class='alerts'><ul>{items}</ul></div>")
    if r.comparison is None:
        parts.append("<h2>Alerts</h2><p><small>no previous completed job of this dataset to compare with</small></p>")
    elif r.alerts:
        items = "".join(f"<li>{_e(a.message)}</li>" for a in r.alerts)
        parts.append(f"<h2>Alerts</h2><div class='alerts'><ul>{items}</ul></div>")
    else:
        parts.append("<h2>Alerts</h2><p class='ok'>no alerts against the previous job</p>")
    parts.append(_share_table("Sentiment", r.sentiment))
    h = r.hidden_dissatisfaction
    parts.append(
        "<h2>Hidden dissatisfaction</h2>"
        + (
            f"<p>{_pct(h.rate)} of messages ({h.detected} of {h.evaluated}) complain without saying so.</p>"
            if h
            else "<p><small>not served by this deployment</small></p>"
        )
    )
    parts.append(_share_table("Escalation risk", r.risk))
    if r.handoff is not None:
        parts.append(f"<p>{r.handoff} messages should go to a human now.</p>")
    parts.append(_group_table("Top categories", r.categories))
    parts.append(_topic_table(r))
    parts.append("<h2>Top entities</h2>")
    if r.entities:
        for kind, counts in r.entities.items():
            rows = "".join(f'<tr><td>{_e(i.text)}</td><td class="num">{i.count}</td></tr>' for i in counts)
            parts.append(f"<h3>{_e(kind)}</h3><table>{rows}</table>")
    else:
        parts.append("<p><small>none (not served by this deployment, or no products/organisations)</small></p>")
    if r.channels:
        cells = "".join(
            f'<tr><td>{_e(ch.channel)}</td><td class="num">{ch.count}</td>'
            f'<td class="num">{_pct(ch.negative_rate)}</td></tr>'
            for ch in r.channels
        )
        parts.append(f"<h2>Channels</h2><table><tr><th></th><th>messages</th><th>negative</th></tr>{cells}</table>")
    if r.errors:
        cells = "".join(f'<tr><td>{_e(k)}</td><td class="num">{v}</td></tr>' for k, v in r.errors.items())
        parts.append(f"<h2>Bad records</h2><table>{cells}</table><small>details per line in the results</small>")
    if r.comparison is not None:
        c = r.comparison
        change = "–" if c.negative_rate_change is None else f"{c.negative_rate_change * 100:+.1f} points"
        versions_note = " Model versions differ between the two jobs." if c.model_versions_changed else ""
        parts.append(
            f"<h2>Compared with the previous job</h2><p>job {_e(c.previous_job_id)} of "
            f"{_e(c.previous_created_at.isoformat(timespec='seconds'))}: negative rate "
            f"{_pct(c.negative_rate_previous)} → {_pct(r.negative_rate)} ({_e(change)}). Alert threshold: a share "
            f"rising by more than {c.threshold:.0%} (relative).{versions_note}</p>"
        )
    versions = "".join(f"<tr><td>{_e(k)}</td><td>{_e(', '.join(v))}</td></tr>" for k, v in r.model_versions.items())
    parts.append(f"<h2>Models</h2><table>{versions}</table></body></html>")
    return "".join(parts)
