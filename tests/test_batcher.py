"""Dynamic batching: concurrent submissions share a model call; a full queue refuses."""

from __future__ import annotations

import asyncio
import time

import pytest

from models.batcher import DynamicBatcher, QueueFullError


async def test_concurrent_requests_share_a_batch() -> None:
    seen: list[list[int]] = []

    def fn(items: list[int]) -> list[int]:
        seen.append(list(items))
        return [i * 2 for i in items]

    batcher: DynamicBatcher[int, int] = DynamicBatcher(fn, max_batch=8, max_wait_ms=50)
    batcher.start()
    try:
        results = await asyncio.gather(*(batcher.submit(i) for i in range(8)))
    finally:
        await batcher.stop()
    assert results == [i * 2 for i in range(8)]
    assert len(seen) == 1 and sorted(seen[0]) == list(range(8))


async def test_batches_never_exceed_max_batch() -> None:
    sizes: list[int] = []

    def fn(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    batcher: DynamicBatcher[int, int] = DynamicBatcher(fn, max_batch=4, max_wait_ms=20)
    batcher.start()
    try:
        assert await batcher.submit_many(list(range(10))) == list(range(10))
    finally:
        await batcher.stop()
    assert max(sizes) <= 4 and sum(sizes) == 10


async def test_queue_full_is_refused_whole() -> None:
    def slow(items: list[int]) -> list[int]:
        time.sleep(0.2)
        return items

    batcher: DynamicBatcher[int, int] = DynamicBatcher(slow, max_batch=1, max_wait_ms=0, max_queue=2)
    batcher.start()
    try:
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)  # first is now running; the queue is empty again
        pending = asyncio.ensure_future(batcher.submit_many([2, 3]))
        await asyncio.sleep(0)
        with pytest.raises(QueueFullError):
            await batcher.submit(4)
        assert await first == 1 and await pending == [2, 3]
    finally:
        await batcher.stop()


async def test_wrong_output_count_fails_the_batch_not_the_loop() -> None:
    broken = True

    def fn(items: list[int]) -> list[int]:
        return items[:-1] if broken else items

    batcher: DynamicBatcher[int, int] = DynamicBatcher(fn, max_batch=4, max_wait_ms=0)
    batcher.start()
    try:
        with pytest.raises(RuntimeError, match="outputs"):  # the batch, then each item alone
            await batcher.submit_many([1, 2])
        broken = False
        assert await batcher.submit(5) == 5  # the loop survived
    finally:
        await batcher.stop()


async def test_a_lone_request_does_not_wait_for_a_batch_to_fill() -> None:
    """With a long max wait, a request alone is answered at once; concurrent ones still share a call."""
    seen: list[int] = []

    def fn(items: list[int]) -> list[int]:
        seen.append(len(items))
        return items

    batcher: DynamicBatcher[int, int] = DynamicBatcher(fn, max_batch=8, max_wait_ms=2000)
    batcher.start()
    try:
        t0 = time.perf_counter()
        assert await batcher.submit(1) == 1
        lone_s = time.perf_counter() - t0
        assert await asyncio.gather(*(batcher.submit(i) for i in range(8))) == list(range(8))
    finally:
        await batcher.stop()
    assert lone_s < 1.0  # far below the 2 s max wait: it did not wait for company
    assert seen == [1, 8]
