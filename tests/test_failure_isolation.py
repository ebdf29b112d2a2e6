"""One message that breaks a stage, the encoder or the batch function never fails the messages batched with it.

Plumbing tests on the fake encoder: a stage that raises on a batch containing a poison message (as spaCy's
``pipe`` does for the whole batch), a stage that raises half-way through its loop, an encoder that raises
for one text, and the same through the batcher, the HTTP routes and the job executor.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.batcher import DynamicBatcher
from models.encoder import EncoderOutput, Tokenized
from models.fake import FakeEncoder, fake_sentiment
from models.pipeline import AnalysisError, AnalysisFailure, AnalysisInput, Analyzer, Context, Stage
from models.registry import Registry
from models.schema import Analysis
from models.spec import ModelSpec
from service.app import create_app
from service.jobs.executor import JobExecutor
from service.jobs.records import BadRecord, validate
from service.settings import Settings

POISON = "POISON"


class PoisonStage:
    """Raises for the whole batch when any message in it contains ``POISON`` (like a library's batch call)."""

    name = "hidden_dissatisfaction"
    version = "poison-1"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def run(self, batch: list[Context]) -> None:
        self.batches.append(len(batch))
        if any(POISON in c.item.normalized.text for c in batch):
            raise OverflowError("date value out of range")
        for ctx in batch:
            ctx.fields["redacted_text"] = f"seen {len(ctx.item.normalized.text)}"


class CountingStage:
    """Counts each message once per run (like risk repetition) and raises half-way at the poison message."""

    name = "risk"
    version = "count-1"

    def __init__(self) -> None:
        self.counted: list[str] = []

    def run(self, batch: list[Context]) -> None:
        for ctx in batch:
            text = ctx.item.normalized.text
            if "BOOM" in text:
                raise KeyError("boom")
            self.counted.append(text)
            ctx.fields["category"] = None  # any write marks the message as done by this stage


class FailingEncoder(FakeEncoder):
    """The fake encoder, raising for any batch with a message containing ``BROKEN``."""

    def forward(self, items: list[Tokenized]) -> list[EncoderOutput]:
        if any(len(item.windows[0]) == 2 + len("BROKEN") for item in items):
            raise RuntimeError("ORT failed")
        return super().forward(items)


def _analyzer(stages: tuple[Stage, ...], encoder: FakeEncoder | None = None) -> Analyzer:
    encoder = encoder or FakeEncoder()
    return Analyzer(encoder, fake_sentiment(encoder.hidden_size), stages)


def _items(texts: list[str]) -> list[AnalysisInput]:
    return [AnalysisInput.prepare(t, id=str(n)) for n, t in enumerate(texts)]


TEXTS = [f"订单{n}号还没到" for n in range(7)]


def test_a_failing_stage_fails_only_its_message() -> None:
    poison, counting = PoisonStage(), CountingStage()
    analyzer = _analyzer((poison, counting))
    texts = [*TEXTS[:3], f"{POISON} 昨天下午三点下单", *TEXTS[3:]]
    results = analyzer.analyze_each(_items(texts))
    assert len(results) == 8 and all(isinstance(r, Analysis) for r in results)
    answers = [r for r in results if isinstance(r, Analysis)]
    assert [a.id for a in answers] == [str(n) for n in range(8)]
    for n, a in enumerate(answers):
        if n == 3:
            assert a.redacted_text is None  # the poison stage's block is null ...
            assert [(w.stage, w.error_type) for w in a.warnings] == [("hidden_dissatisfaction", "stage_failed")]
            assert "昨天" not in a.warnings[0].message and POISON not in a.warnings[0].message
        else:
            assert a.redacted_text == f"seen {len(texts[n])}" and a.warnings == []
        assert a.sentiment is not None  # ... and every other block of every message is there
    assert poison.batches == [8, 1, 1, 1, 1, 1, 1, 1, 1]  # the batch, then each message alone
    assert sorted(counting.counted) == sorted(texts)  # the stage after it ran for all eight, each once


def test_a_stage_failing_half_way_counts_each_message_once() -> None:
    counting = CountingStage()
    analyzer = _analyzer((counting,))
    texts = ["第一条", "第二条", "BOOM 第三条", "第四条", "第五条"]
    answers = analyzer.analyze_batch(_items(texts))
    assert counting.counted == ["第一条", "第二条", "第四条", "第五条"]  # no message counted twice
    assert [bool(a.warnings) for a in answers] == [False, False, True, False, False]
    assert answers[2].warnings[0].stage == "risk"


def test_an_encoder_failure_fails_only_its_message() -> None:
    analyzer = _analyzer((PoisonStage(),), FailingEncoder())
    results = analyzer.analyze_each(_items(["好评", "BROKEN", "物流太慢了"]))
    assert isinstance(results[0], Analysis) and isinstance(results[2], Analysis)
    assert isinstance(results[1], AnalysisFailure) and results[1].error_type == "analysis_failed"
    assert results[0].redacted_text == "seen 2" and results[2].redacted_text == "seen 5"
    with pytest.raises(AnalysisError) as raised:
        analyzer.analyze_batch(_items(["好评", "BROKEN"]))
    assert raised.value.index == 1


def test_entity_failure_still_masks_pattern_pii_in_evidence() -> None:
    class EntitiesFail:
        name = "entities"
        version = "x"

        def run(self, batch: list[Context]) -> None:
            raise ValueError("spaCy broke")

    class Evidence:
        name = "risk"
        version = "y"

        def run(self, batch: list[Context]) -> None:
            from models.schema import Risk, RiskReason

            for ctx in batch:
                text = ctx.item.normalized.original
                reason = RiskReason(signal="urgency", contribution=1.0, detail="x", text=text, start=0, end=len(text))
                ctx.fields["risk"] = Risk(level="red", score=0.9, reasons=[reason], handoff=True)

    analyzer = _analyzer((EntitiesFail(), Evidence()))
    [answer] = analyzer.analyze_batch(_items(["快打13800138000找我"]))
    assert answer.entities is None and answer.warnings[0].stage == "entities"
    assert answer.risk is not None and answer.risk.reasons[0].text == "快打138****8000找我"


async def test_batcher_runs_a_failed_batch_item_by_item() -> None:
    def fn(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("poison")
        return [i * 10 for i in items]

    batcher: DynamicBatcher[int, int] = DynamicBatcher(fn, max_batch=16, max_wait_ms=50)
    batcher.start()
    try:
        results = await asyncio.gather(*(batcher.submit(i) for i in range(10, 20)), return_exceptions=True)
    finally:
        await batcher.stop()
    assert isinstance(results[3], ValueError)
    assert [r for n, r in enumerate(results) if n != 3] == [i * 10 for i in range(10, 20) if i != 13]


# -- through HTTP ------------------------------------------------------------------------------------------
async def _client(settings: Settings, analyzer: Analyzer) -> tuple[httpx.AsyncClient, Any]:
    spec = ModelSpec("encoder/fake-encoder", "encoder", "-", "fake-1", "0" * 64, {})
    app = create_app(settings, registry_loader=lambda _: Registry(analyzer, (spec,)))
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test"), ctx


async def test_poison_request_does_not_fail_the_requests_batched_with_it(settings: Settings) -> None:
    poison = PoisonStage()
    client, ctx = await _client(settings, _analyzer((poison,), FailingEncoder()))
    try:
        poison.batches.clear()
        bodies = [{"text": t} for t in TEXTS] + [{"text": f"{POISON} 下单", "received_at": "0001-01-01T00:00:00Z"}]
        bodies += [{"text": "BROKEN"}]
        responses = await asyncio.gather(*(client.post("/v1/analyze", json=b) for b in bodies))
        assert max(poison.batches) > 2  # they shared a batch
        for r in responses[: len(TEXTS)]:
            assert r.status_code == 200 and r.json()["warnings"] == [] and r.json()["redacted_text"]
        degraded = responses[len(TEXTS)]
        assert degraded.status_code == 200
        assert degraded.json()["redacted_text"] is None
        assert degraded.json()["warnings"][0]["error_type"] == "stage_failed"
        failed = responses[-1]
        assert failed.status_code == 422
        assert failed.json() == {"error": "the models could not analyse this message", "error_type": "analysis_failed"}
        again = await client.post("/v1/analyze", json=bodies[len(TEXTS)])
        assert again.json()["cached"] is False  # a degraded answer is never cached
        assert (await client.post("/v1/analyze", json=bodies[0])).json()["cached"] is True
        batch = await client.post("/v1/analyze/batch", json={"items": [{"text": "好"}, {"text": "BROKEN"}]})
        assert batch.status_code == 422 and batch.json()["error_type"] == "analysis_failed"
        assert batch.json()["error"].startswith("items[1]: ")
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)


@pytest.mark.parametrize("text", ["\u200d", "\u200b\u200d\ufeff", " \u2060\u3000\t\n", "\ufe0f\u3164"])
async def test_invisible_text_is_empty(fake_client: httpx.AsyncClient, text: str) -> None:
    one = await fake_client.post("/v1/analyze", json={"text": text})
    assert one.status_code == 422 and one.json()["error_type"] == "empty_text"
    batch = await fake_client.post("/v1/analyze/batch", json={"items": [{"text": "好"}, {"text": text}]})
    assert batch.status_code == 422 and batch.json()["error_type"] == "empty_text"
    assert batch.json()["error"].startswith("items[1]: ")
    record = validate({"text": text, "id": "a"}, 3, 5000)
    assert isinstance(record, BadRecord) and record.error_type == "empty_text"


async def test_visible_text_with_zero_width_characters_is_analysed(fake_client: httpx.AsyncClient) -> None:
    r = await fake_client.post("/v1/analyze", json={"text": "\u200d好\u200b"})
    assert r.status_code == 200


def test_job_executor_answers_the_neighbours_of_a_broken_message(tmp_path: Path) -> None:
    analyzer = _analyzer((PoisonStage(),), FailingEncoder())
    settings = Settings(artifacts_dir=tmp_path, redis_url=None, jobs_dir=tmp_path / "jobs")
    executor = JobExecutor(None, None, None, settings, analyzer)  # type: ignore[arg-type]
    out, _ = executor._analyse_safely(_items(["好评", "BROKEN", f"{POISON} 物流"]))  # answers, embeddings
    assert out[1] is None  # reported as analysis_failed
    assert out[0] is not None and out[0].warnings == []
    assert out[2] is not None and out[2].warnings[0].stage == "hidden_dissatisfaction"


def test_tousu_analyze_reports_a_broken_message_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from service import local

    analyzer = _analyzer((PoisonStage(),), FailingEncoder())
    spec = ModelSpec("encoder/fake-encoder", "encoder", "-", "fake-1", "0" * 64, {})
    monkeypatch.setattr(local, "default_registry", lambda _: Registry(analyzer, (spec,)))
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"id": "a", "text": "好评"}, {"id": "b", "text": "BROKEN"}, {"id": "c", "text": "\u200d\ufeff"}]
    rows.append({"id": "d", "text": f"{POISON} 物流"})
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert local.analyze_file(src, dst, progress=False) == 0
    lines = [json.loads(x) for x in dst.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c", "d"]
    assert [x.get("error_type") for x in lines] == [None, "analysis_failed", "empty_text", None]
    assert lines[3]["warnings"][0]["stage"] == "hidden_dissatisfaction"
