"""Fair sharing: work is admitted and scheduled by its cost, so a short request never waits behind a big one.

The batch functions here block on events the test controls, so the assertions are about order (which
slice a request's items ran in), never about how long anything took.
"""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from models.batcher import DeadlineExceededError, DynamicBatcher, QueueFullError, text_windows
from models.encoder import EncoderOutput, Tokenized
from models.fake import FakeEncoder
from models.ort_options import release_memory
from service.routes import analyze as analyze_route
from service.settings import Settings
from tests.conftest import start_client


class Gate:
    """A batch function that records each slice and holds the first one until ``open()``."""

    def __init__(self) -> None:
        self.slices: list[list[str]] = []
        self.started = threading.Event()
        self._open = threading.Event()

    def __call__(self, items: list[str]) -> list[str]:
        self.slices.append(list(items))
        self.started.set()
        self._open.wait(10)
        return [i.upper() for i in items]

    def open(self) -> None:
        self._open.set()


def by_length(item: str) -> int:
    return len(item)  # a test item's cost is its length: "bbbb" costs 4


async def _started(gate: Gate) -> None:
    assert await asyncio.to_thread(gate.started.wait, 10)


async def test_a_short_request_runs_between_slices_of_a_big_one() -> None:
    gate = Gate()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(
        gate, max_batch=32, max_wait_ms=0, cost=by_length, max_batch_cost=8
    )
    batcher.start()
    try:
        big = asyncio.ensure_future(batcher.submit_many([f"b{i:03d}" for i in range(10)]))  # 10 items of cost 4
        await _started(gate)  # the first slice of the big request is running
        short = asyncio.ensure_future(batcher.submit("s"))
        await asyncio.sleep(0)
        gate.open()
        assert await short == "S"
        assert len(await big) == 10
    finally:
        await batcher.stop()
    assert gate.slices[0] == ["b000", "b001"]  # 8 cost units: two big items
    assert "s" in gate.slices[1]  # the short one waited for that slice only
    assert any(s[0].startswith("b") for s in gate.slices[2:])  # and the big request went on after it
    assert all(sum(map(by_length, s)) <= 8 for s in gate.slices)


async def test_an_item_costlier_than_a_slice_runs_alone() -> None:
    seen: list[list[str]] = []

    def fn(items: list[str]) -> list[str]:
        seen.append(list(items))
        return items

    batcher: DynamicBatcher[str, str] = DynamicBatcher(
        fn, max_batch=32, max_wait_ms=0, cost=by_length, max_batch_cost=4
    )
    batcher.start()
    try:
        assert await batcher.submit_many(["x" * 10, "ab", "cd"]) == ["x" * 10, "ab", "cd"]
    finally:
        await batcher.stop()
    assert ["x" * 10] in seen and ["ab", "cd"] in seen


async def test_two_big_requests_take_turns() -> None:
    """Start-time fair queuing: neither big request starves the other."""
    gate = Gate()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(gate, max_batch=1, max_wait_ms=0)
    batcher.start()
    try:
        first = asyncio.ensure_future(batcher.submit_many([f"a{i}" for i in range(4)]))
        await _started(gate)
        second = asyncio.ensure_future(batcher.submit_many([f"c{i}" for i in range(4)]))
        await asyncio.sleep(0)
        gate.open()
        await asyncio.gather(first, second)
    finally:
        await batcher.stop()
    order = "".join(s[0][0] for s in gate.slices)
    # "c" arrived while a0 ran and starts level with "a" (one item served each way from then on)
    assert order == "aacacacc", order


async def test_the_queue_is_bounded_by_cost_not_by_items() -> None:
    gate = Gate()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(gate, max_batch=1, max_wait_ms=0, max_queue=10, cost=by_length)
    batcher.start()
    try:
        running = asyncio.ensure_future(batcher.submit("r"))
        await _started(gate)
        queued = asyncio.ensure_future(batcher.submit("q" * 8))
        await asyncio.sleep(0)
        assert batcher.queued_cost == 8 and batcher.depth == 1
        with pytest.raises(QueueFullError):
            await batcher.submit("x" * 3)  # one item, but 8 + 3 > 10
        fits = asyncio.ensure_future(batcher.submit("yy"))
        await asyncio.sleep(0)
        gate.open()
        assert await asyncio.gather(running, queued, fits) == ["R", "Q" * 8, "YY"]
    finally:
        await batcher.stop()


async def test_work_past_its_deadline_is_dropped_not_computed() -> None:
    gate = Gate()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(gate, max_batch=1, max_wait_ms=0, deadline_s=0.05)
    batcher.start()
    try:
        running = asyncio.ensure_future(batcher.submit("first"))
        await _started(gate)
        late = asyncio.ensure_future(batcher.submit("late"))
        await asyncio.sleep(0.3)  # "late" is now queued past its deadline
        assert batcher.oldest_wait_s() >= 0.05
        gate.open()
        assert await running == "FIRST"
        with pytest.raises(DeadlineExceededError):
            await late
    finally:
        await batcher.stop()
    assert gate.slices == [["first"]]
    assert batcher.stats.dropped == 1


async def test_a_cancelled_request_is_skipped() -> None:
    """What the route does when its client disconnects: cancel; the batcher never computes those items."""
    gate = Gate()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(gate, max_batch=1, max_wait_ms=0)
    batcher.start()
    try:
        running = asyncio.ensure_future(batcher.submit("first"))
        await _started(gate)
        gone = asyncio.ensure_future(batcher.submit_many(["gone1", "gone2"]))
        await asyncio.sleep(0)
        gone.cancel()
        after = asyncio.ensure_future(batcher.submit("after"))
        await asyncio.sleep(0)
        gate.open()
        assert await asyncio.gather(running, after) == ["FIRST", "AFTER"]
    finally:
        await batcher.stop()
    assert gate.slices == [["first"], ["after"]]
    assert batcher.depth == 0 and batcher.queued_cost == 0


async def test_on_drained_reports_the_cost_computed_since_the_queue_was_last_empty() -> None:
    drained: list[int] = []
    batcher: DynamicBatcher[str, str] = DynamicBatcher(
        lambda items: items, max_batch=2, max_wait_ms=0, cost=by_length, on_drained=drained.append
    )
    batcher.start()
    try:
        await batcher.submit_many(["aaa", "bb", "c"])
        for _ in range(100):
            if drained:
                break
            await asyncio.sleep(0.01)
    finally:
        await batcher.stop()
    assert drained == [6]
    assert isinstance(release_memory(), bool)


def test_text_windows_counts_encoder_windows() -> None:
    assert text_windows(1) == 1
    assert text_windows(248) == 1 and text_windows(249) == 2
    assert text_windows(5000) == 16  # the encoder reads at most 16 windows of a message


# -- HTTP ------------------------------------------------------------------------------------------------


class GatedEncoder(FakeEncoder):
    """The fake encoder, holding its first call until the test opens the gate; records token counts per call."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[list[int]] = []
        self.gate = threading.Event()
        self.first = threading.Event()
        self.armed = False
        self.hold_from_tokens = 0  # calls with a message this long (or longer) wait for the gate

    def forward(self, items: list[Tokenized]) -> list[EncoderOutput]:
        if self.armed and max(item.n_tokens for item in items) >= self.hold_from_tokens:
            self.seen.append([item.n_tokens for item in items])
            self.first.set()
            self.gate.wait(10)
        return super().forward(items)


def _settings(tmp_path: Any, **kw: Any) -> Settings:
    """Without the express lane unless asked: these tests look at the order of slices in the main lane."""
    kw.setdefault("batch_express_windows", 0)
    return Settings(artifacts_dir=tmp_path, redis_url=None, batch_max_wait_ms=0, jobs_dir=tmp_path / "jobs", **kw)


async def test_http_short_request_is_answered_between_slices_of_a_big_batch(tmp_path: Any) -> None:
    encoder = GatedEncoder()
    client, ctx = await start_client(_settings(tmp_path, batch_max_windows=8), encoder)
    try:
        encoder.armed = True
        big = [{"text": f"{i}" + "退" * 999, "id": str(i)} for i in range(6)]  # 5 windows each: one per slice
        batch = asyncio.ensure_future(client.post("/v1/analyze/batch", json={"items": big}))
        assert await asyncio.to_thread(encoder.first.wait, 10)
        short = asyncio.ensure_future(client.post("/v1/analyze", json={"text": "快递没到"}))
        await asyncio.sleep(0.2)  # the short request is queued behind the running slice
        encoder.gate.set()
        assert (await short).status_code == 200
        assert (await batch).status_code == 200
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]
    calls = encoder.seen
    short_at = next(i for i, c in enumerate(calls) if min(c) < 100)
    assert short_at == 1, calls  # in the slice right after the one that was running
    assert sum(1 for c in calls[short_at:] for n in c if n >= 1000) == 5  # the rest of the big batch: with and after it
    assert all(sum(n >= 1000 for n in c) == 1 for c in calls)  # 5 windows each: one big message per 8-window slice


async def test_http_short_request_is_answered_while_a_big_slice_still_runs(tmp_path: Any) -> None:
    """The default express lane: a short message does not even wait for the running slice."""
    encoder = GatedEncoder()
    encoder.hold_from_tokens = 1000
    client, ctx = await start_client(_settings(tmp_path, batch_express_windows=2), encoder)
    try:
        encoder.armed = True
        big = [{"text": f"{i}" + "退" * 999} for i in range(3)]
        batch = asyncio.ensure_future(client.post("/v1/analyze/batch", json={"items": big}))
        assert await asyncio.to_thread(encoder.first.wait, 10)
        short = await asyncio.wait_for(client.post("/v1/analyze", json={"text": "快递没到"}), 10)
        assert short.status_code == 200
        assert not batch.done()  # the big slice is still held
        encoder.gate.set()
        assert (await batch).status_code == 200
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_http_a_batch_over_the_cost_limit_is_refused_up_front(tmp_path: Any) -> None:
    encoder = FakeEncoder()
    client, ctx = await start_client(_settings(tmp_path, request_max_windows=32), encoder)
    try:
        encoder.calls.clear()
        items = [{"text": "长" * 1000} for _ in range(8)]  # 8 x 5 windows = 40 > 32
        r = await client.post("/v1/analyze/batch", json={"items": items})
        assert r.status_code == 413
        body = r.json()
        assert body["error_type"] == "cost_limit_exceeded"
        assert "/v1/jobs" in body["error"] and "40" in body["error"]
        assert encoder.calls == []  # nothing was computed
        ok = await client.post("/v1/analyze/batch", json={"items": items[:6]})  # 30 windows
        assert ok.status_code == 200
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_http_health_is_degraded_while_the_queue_waits_too_long(tmp_path: Any) -> None:
    encoder = GatedEncoder()
    client, ctx = await start_client(_settings(tmp_path, health_max_queue_wait_s=0.05), encoder)
    try:
        assert (await client.get("/health")).json()["status"] == "ok"
        encoder.armed = True
        first = asyncio.ensure_future(client.post("/v1/analyze", json={"text": "第一条"}))
        assert await asyncio.to_thread(encoder.first.wait, 10)
        second = asyncio.ensure_future(client.post("/v1/analyze", json={"text": "第二条"}))
        await asyncio.sleep(0.2)
        r = await client.get("/health")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded" and "health_max_queue_wait_s" in body["reason"]
        assert body["queue_depth"] == 1 and body["queue_wait_s"] >= 0.05
        encoder.gate.set()
        assert (await first).status_code == 200 and (await second).status_code == 200
        assert (await client.get("/health")).json()["status"] == "ok"
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_http_deadline_passed_is_a_typed_503(tmp_path: Any) -> None:
    encoder = GatedEncoder()
    client, ctx = await start_client(_settings(tmp_path, request_deadline_s=0.05), encoder)
    try:
        encoder.armed = True
        first = asyncio.ensure_future(client.post("/v1/analyze", json={"text": "第一条"}))
        assert await asyncio.to_thread(encoder.first.wait, 10)
        late = asyncio.ensure_future(client.post("/v1/analyze", json={"text": "第二条"}))
        await asyncio.sleep(0.3)
        encoder.gate.set()
        assert (await first).status_code == 200
        r = await late
        assert r.status_code == 503 and r.json()["error_type"] == "deadline_exceeded"
        assert "Retry-After" in r.headers
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert len(encoder.seen) == 1  # the late message was never computed


async def test_a_client_that_disconnects_has_its_work_dropped() -> None:
    """The route waits for ``http.disconnect`` beside the work and cancels the work when it comes."""
    gate = Gate()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(gate, max_batch=1, max_wait_ms=0)
    batcher.start()
    hang_up = asyncio.Event()

    async def receive() -> dict[str, str]:
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def analyze(items: list[str], use_cache: bool) -> list[str]:
        return await batcher.submit_many(items)

    request = SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(service=SimpleNamespace(analyze=analyze))), receive=receive
    )
    try:
        running = asyncio.ensure_future(batcher.submit("first"))
        await _started(gate)
        waiting = asyncio.ensure_future(analyze_route._unless_disconnected(request, ["gone"], True))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert batcher.depth == 1  # queued behind "first"
        hang_up.set()
        with pytest.raises(analyze_route.ClientGoneError):
            await waiting
        gate.open()
        assert await running == "FIRST"
        assert await batcher.submit("next") == "NEXT"
    finally:
        await batcher.stop()
    assert gate.slices == [["first"], ["next"]]


async def test_the_express_lane_answers_a_short_request_while_a_big_slice_still_runs() -> None:
    big_gate = threading.Event()
    seen: list[list[str]] = []
    started = threading.Event()

    def fn(items: list[str]) -> list[str]:
        seen.append(list(items))
        if items[0].startswith("b"):
            started.set()
            big_gate.wait(10)  # the big slice holds the main lane until the test lets it go
        return items

    batcher: DynamicBatcher[str, str] = DynamicBatcher(
        fn, max_batch=32, max_wait_ms=0, cost=by_length, max_batch_cost=8, express_cost=2
    )
    batcher.start()
    try:
        big = asyncio.ensure_future(batcher.submit_many(["b" * 8, "b" * 8]))
        assert await asyncio.to_thread(started.wait, 10)
        assert await asyncio.wait_for(batcher.submit("s"), 10) == "s"  # answered; the big slice has not finished
        assert not big.done() and ["s"] in seen
        costly = asyncio.ensure_future(batcher.submit("c" * 3))  # above express_cost: waits for the main lane
        await asyncio.sleep(0.1)
        assert not costly.done()
        big_gate.set()
        assert await big == ["b" * 8, "b" * 8] and await costly == "ccc"
    finally:
        await batcher.stop()
    assert seen.index(["c" * 3]) > seen.index(["s"])


async def test_without_load_the_express_lane_stays_idle_and_requests_share_one_call() -> None:
    seen: list[list[int]] = []

    def fn(items: list[int]) -> list[int]:
        seen.append(list(items))
        return items

    batcher: DynamicBatcher[int, int] = DynamicBatcher(fn, max_batch=8, max_wait_ms=50, express_cost=4)
    batcher.start()
    try:
        assert await asyncio.gather(*(batcher.submit(i) for i in range(8))) == list(range(8))
    finally:
        await batcher.stop()
    assert len(seen) == 1


async def test_a_big_request_served_slice_after_slice_is_not_waiting_but_a_starved_one_is() -> None:
    """``oldest_wait_s`` (what /health compares) counts time without service, not time since arrival."""
    gate = Gate()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(gate, max_batch=1, max_wait_ms=0)
    batcher.start()
    try:
        big = asyncio.ensure_future(batcher.submit_many(["a", "b"]))
        await _started(gate)  # "a" runs: the big request is being served although "b" is queued
        await asyncio.sleep(0.2)
        assert batcher.oldest_wait_s() == 0.0
        starved = asyncio.ensure_future(batcher.submit("c"))
        await asyncio.sleep(0.2)
        assert batcher.oldest_wait_s() >= 0.2  # "c" has had no service at all
        gate.open()
        await asyncio.gather(big, starved)
        assert batcher.oldest_wait_s() == 0.0
    finally:
        await batcher.stop()
