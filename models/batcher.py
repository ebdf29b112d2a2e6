"""Dynamic micro-batching: concurrent requests share one model call.

An asyncio queue of (item, future) pairs; a single worker task takes what is queued (up to
``max_batch``), runs the batch function in a worker thread and resolves the futures. A lone
request never waits: only when two or more requests are already queued (there is concurrency)
does the worker wait, at most ``max_wait_ms``, for the batch to fill. Requests that arrive while
a batch runs queue up and form the next batch. The queue is bounded: when it is full,
``submit`` raises :class:`QueueFullError` so the HTTP layer can answer 429.

Requests that share a batch never share a failure: when the batch function raises, each item
is run again alone, so only the item that fails alone gets the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


class QueueFullError(RuntimeError):
    """The batcher's queue is at capacity; the caller should retry later."""


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    sizes: list[int] = field(default_factory=list)
    last_batch_s: float = 0.0

    def record(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.items += size
        self.last_batch_s = seconds
        self.sizes.append(size)
        if len(self.sizes) > 1000:
            del self.sizes[:500]


class DynamicBatcher(Generic[In, Out]):
    def __init__(
        self,
        fn: Callable[[list[In]], Sequence[Out]],
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and max_queue must be >= 1, max_wait_ms >= 0")
        self._fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]] = asyncio.Queue(max_queue)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tousu-infer")
        self._task: asyncio.Task[None] | None = None
        self._on_batch = on_batch
        self.stats = BatchStats()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="tousu-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(RuntimeError("batcher stopped"))
        self._executor.shutdown(wait=True)

    async def submit(self, item: In) -> Out:
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: Sequence[In]) -> list[Out]:
        """Queue all items or none (a partial enqueue would strand futures)."""
        if self._task is None:
            raise RuntimeError("batcher not started")
        if self._queue.maxsize - self._queue.qsize() < len(items):
            raise QueueFullError(f"queue full ({self._queue.qsize()}/{self._queue.maxsize})")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Out]] = []
        for item in items:
            fut: asyncio.Future[Out] = loop.create_future()
            self._queue.put_nowait((item, fut))
            futures.append(fut)
        return list(await asyncio.gather(*futures))

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            await asyncio.sleep(0)  # requests submitted in the same tick join this batch
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            deadline = loop.time() + self.max_wait
            while 1 < len(batch) < self.max_batch:  # concurrency: wait (bounded) for the batch to fill
                if self._queue.empty():
                    timeout = deadline - loop.time()
                    if timeout <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                    except TimeoutError:
                        break
                else:
                    batch.append(self._queue.get_nowait())
            live = [(item, fut) for item, fut in batch if not fut.cancelled()]
            if not live:
                continue
            start = time.perf_counter()
            try:
                outputs = await loop.run_in_executor(self._executor, self._call, [i for i, _ in live])
            except Exception as exc:  # resolve every waiter; never kill the loop
                if len(live) == 1:
                    logger.error("a batch of 1 failed (%s)", type(exc).__name__)
                    _resolve(live[0][1], exc)
                else:
                    logger.warning("a batch of %d failed (%s); running it item by item", len(live), type(exc).__name__)
                    await self._run_alone(live)
                continue
            elapsed = time.perf_counter() - start
            self.stats.record(len(live), elapsed)
            if self._on_batch is not None:
                self._on_batch(len(live), elapsed)
            for (_, fut), out in zip(live, outputs, strict=True):
                _resolve(fut, out)

    def _call(self, items: list[In]) -> Sequence[Out]:
        outputs = self._fn(items)
        if len(outputs) != len(items):
            raise RuntimeError(f"batch function returned {len(outputs)} outputs for {len(items)} inputs")
        return outputs

    async def _run_alone(self, live: list[tuple[In, asyncio.Future[Out]]]) -> None:
        """After a failed batch: each item alone, so one poison item fails only its own request."""
        loop = asyncio.get_running_loop()
        for item, fut in live:
            if fut.done():
                continue
            try:
                [out] = await loop.run_in_executor(self._executor, self._call, [item])
            except Exception as exc:
                logger.error("an item failed alone (%s)", type(exc).__name__)
                _resolve(fut, exc)
                continue
            _resolve(fut, out)


def _resolve(fut: asyncio.Future[Out], result: Out | BaseException) -> None:
    if fut.done():  # the waiter gave up (client went away)
        return
    if isinstance(result, BaseException):
        fut.set_exception(result)
    else:
        fut.set_result(result)
