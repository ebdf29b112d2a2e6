"""Pure pieces of the batch jobs: reading dumps, aggregating answers, alert rules, HTML escaping."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from models.pipeline import AnalysisInput
from models.schema import Analysis, Entity
from service.jobs.aggregate import Aggregate, Group, mask_example
from service.jobs.records import BadRecord, InputError, Record, read_records, sniff
from service.jobs.report import build_report, compare, render_html
from service.jobs.schemas import JobReport
from tests.jobs_support import job_settings, make_registry


def _read(tmp_path: Path, data: bytes, fmt: str = "jsonl", max_chars: int = 50, max_bytes: int = 10**9) -> list[Any]:
    path = tmp_path / "in"
    path.write_bytes(data)
    return list(read_records(path, fmt, max_chars, max_bytes))  # type: ignore[arg-type]


def test_jsonl_records_and_per_line_errors(tmp_path: Path) -> None:
    data = b"\n".join(
        [
            b'{"id": 7, "text": "ok", "received_at": "2026-01-02T03:04:05+08:00", "customer_id": 9, "channel": "app"}',
            b'{"text": "\\ud800"}',
            b'{"id": true, "text": "x"}',
            b'{"text": "x", "received_at": "yesterday"}',
            b'{"text": "x", "channel": 3}',
            b"[1, 2]",
            b"\xef\xbb\xbf" + b'{"text": "bom"}',
            b'{"text": "' + b"y" * 500 + b'"}',  # over the byte budget of a line: skipped without being held
            b'{"text": "after"}',
        ]
    )
    out = _read(tmp_path, data, max_chars=20)
    assert out[0] == Record(1, "ok", "7", "2026-01-02T03:04:05+08:00", "9", "app")
    assert [(r.line, r.error_type) for r in out[1:6]] == [
        (2, "invalid_utf8"),
        (3, "validation_error"),
        (4, "validation_error"),
        (5, "validation_error"),
        (6, "validation_error"),
    ]
    assert isinstance(out[6], BadRecord) and out[6].error_type == "invalid_json"  # a BOM inside a JSONL line
    assert (out[7].line, out[7].error_type) == (8, "text_too_long") and out[8] == Record(9, "after")
    assert all("y" * 20 not in r.error for r in out if isinstance(r, BadRecord))  # errors never quote the record


def test_csv_multiline_fields_bad_bytes_and_missing_columns(tmp_path: Path) -> None:
    data = '\ufeffID,Text,channel\n1,"line one\nline two",web\n2,\n'.encode() + b"3,\xff\xfe,web\n4,fine,web\n"
    out = _read(tmp_path, data, fmt="csv")
    assert out[0] == Record(2, "line one\nline two", "1", channel="web")
    assert (out[1].line, out[1].error_type) == (4, "empty_text")
    assert (out[2].line, out[2].error_type, out[2].id) == (5, "invalid_utf8", "3")
    assert out[3] == Record(6, "fine", "4", channel="web")
    with pytest.raises(InputError, match="'text' column"):
        _read(tmp_path, b"id,body\n1,x\n", fmt="csv")


def test_sniff_and_size_limits(tmp_path: Path) -> None:
    path = tmp_path / "d.gz"
    path.write_bytes(gzip.compress(b'{"text": "a"}\n' * 1000))
    assert sniff(path, None, 10**9) == "jsonl"
    with pytest.raises(InputError, match="over 5000 bytes once decompressed"):
        list(read_records(path, "jsonl", 50, 5000))  # a gzip bomb stops at the limit
    truncated = tmp_path / "t.gz"
    truncated.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match="not valid gzip"):
        list(read_records(truncated, "jsonl", 50, 10**9))
    csv_path = tmp_path / "c"
    csv_path.write_bytes(b"text,id\nhello,1\n")
    assert sniff(csv_path, None, 10**9) == "csv"
    csv_path.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(InputError, match="'text' column"):
        sniff(csv_path, None, 10**9)
    csv_path.write_bytes(b'[{"text": "a"}]')
    with pytest.raises(InputError, match="not a JSON array"):
        sniff(csv_path, None, 10**9)


def _aggregate(texts: list[str], start: int = 0) -> Aggregate:
    analyses = make_registry().analyzer.analyze_batch(
        [AnalysisInput.prepare(t, id=str(start + i)) for i, t in enumerate(texts)]
    )
    agg = Aggregate()
    for i, (text, analysis) in enumerate(zip(texts, analyses, strict=True)):
        agg.add(start + i, text, "web", analysis)
    return agg


def test_merging_chunk_aggregates_equals_one_aggregate(tmp_path: Path) -> None:
    texts = [f"{k}问题，电话13912345678，第{i}次" for i in range(30) for k in ("退款", "快递", "屏幕")][:60]
    whole = _aggregate(texts)
    merged = Aggregate()
    for start in range(0, 60, 7):
        part = Aggregate.from_json(_aggregate(texts[start : start + 7], start).to_json())  # through the database JSON
        merged.merge(part)
    assert merged.to_json() == whole.to_json()
    refund = whole.categories["refund"]
    assert refund.count == 20 and len(refund.examples) == 3
    assert all("13912345678" not in e["text"] and "[PHONE]" in e["text"] for e in refund.examples)
    assert [e["score"] for e in refund.examples] == sorted((e["score"] for e in refund.examples), reverse=True)


def test_report_examples_mask_names_and_addresses_found_by_the_entity_stage() -> None:
    text = "我是张伟，住在北京市朝阳区建国路88号，电话13912345678，退款还没到"
    entities = [
        Entity(type="PERSON", text="张*", start=2, end=4, confidence=0.9, pii=True),
        Entity(type="LOCATION", text="北京市***", start=7, end=19, confidence=0.9, pii=True),
    ]
    answer = Analysis(language="zh", traditional=False, truncated=False, model_versions={}, entities=entities)
    assert text[2:4] == "张伟" and text[7:19] == "北京市朝阳区建国路88号"
    assert mask_example(text, answer) == "我是[PERSON]，住在[ADDRESS]，电话[PHONE]，退款还没到"


def test_blocks_that_are_not_served_leave_their_sections_empty() -> None:
    registry = make_registry()
    bare = registry.analyzer.__class__(registry.analyzer.encoder, registry.analyzer.sentiment, ())
    agg = Aggregate()
    for i, analysis in enumerate(bare.analyze_batch([AnalysisInput.prepare("你好") for _ in range(3)])):
        agg.add(i, "你好", None, analysis)
    report = build_report("j", None, 0.0, 1.0, 3, agg, None, 0.2, 1)
    assert report.sentiment is not None and report.negative_rate is not None
    assert report.hidden_dissatisfaction is None and report.risk is None and report.handoff is None
    assert report.categories == [] and report.topics == [] and report.entities == {}
    assert "not served by this deployment" in render_html(report)


def _report(categories: dict[str, int], topics: dict[str, int], analyzed: int, negative: int) -> JobReport:
    agg = Aggregate(analyzed=analyzed)
    agg.sentiment.update({"negative": negative, "positive": analyzed - negative})
    agg.categories = {name: Group(count=n) for name, n in categories.items()}
    agg.topics = {key: Group(count=n, label=f"topic {key}") for key, n in topics.items()}
    return build_report("job", "d", 0.0, 1.0, analyzed, agg, None, 0.2, 10)


@pytest.mark.parametrize(
    ("before", "now", "alert"),
    [
        (100, 119, False),  # +19% relative: below the 20% threshold
        (100, 121, True),  # +21%
        (0, 50, True),  # a category that did not exist
        (100, 9, False),  # under the minimum count
    ],
)
def test_share_rise_alerts_are_relative_with_a_minimum_count(before: int, now: int, alert: bool) -> None:
    previous = _report({"refund": before, "other": 1000 - before}, {}, 1000, 100).model_dump(mode="json")
    current = _report({"refund": now, "other": 1000 - now}, {}, 1000, 100)
    _, alerts = compare(current, previous, 0.2, 10)
    assert any(a.key == "refund" and a.kind == "category_share_rise" for a in alerts) is alert


def test_new_topics_outliers_and_negative_rate() -> None:
    previous = _report({}, {"1": 300, "-1": 50}, 1000, 100).model_dump(mode="json")
    current = _report({}, {"1": 300, "2": 40, "3": 5, "-1": 400}, 1000, 125)
    comparison, alerts = compare(current, previous, 0.2, 10)
    assert [(a.kind, a.key) for a in alerts] == [("negative_rate_rise", None), ("new_topic", "2")]
    assert comparison.negative_rate_previous == 0.1 and comparison.negative_rate_change == 0.025
    assert comparison.negative_rate_relative_change == 0.25
    no_categories_before = _report({}, {}, 1000, 100).model_dump(mode="json")
    _, alerts = compare(_report({"refund": 500}, {}, 1000, 100), no_categories_before, 0.2, 10)
    assert alerts == []  # the category task was not served last time: nothing to compare
    assert [t.key for t in current.topics] == ["1", "2", "3"]  # the outlier topic is not a topic of the report


def test_html_escapes_every_value() -> None:
    report = _report({"<img src=x onerror=alert(1)>": 50}, {}, 100, 10)
    html = render_html(report)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html


def test_model_calls_are_capped_in_messages_and_characters(tmp_path: Path) -> None:
    from service.jobs.executor import JobExecutor

    settings = job_settings(tmp_path, jobs_batch_size=4, jobs_batch_max_chars=100)
    executor = JobExecutor(None, None, None, settings)  # type: ignore[arg-type]
    lengths = [5, 90, 3, 40, 60, 1, 2, 200, 7, 8, 30]
    good = {i: Record(i + 1, "x" * n) for i, n in enumerate(lengths)}
    batches = executor._batches(good)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # every message once
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths)  # similar lengths together
    for batch in batches:
        chars = sum(lengths[i] for i in batch)
        assert len(batch) <= 4 and (chars <= 100 or len(batch) == 1)
