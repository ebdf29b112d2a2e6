"""Dynamic micro-batching: concurrent requests share one model call, and no request hogs the model.

Each ``submit_many`` call is a *request*: a group of (item, future) pairs. A worker task (the main
lane; see the express lane below) forms model calls (*slices*) from the queued requests and runs the
batch function in its worker thread. Work is counted by its **cost** (``cost(item)``: for
messages, 256-token encoder windows), not by items:

- a slice holds at most ``max_batch`` items and ``max_batch_cost`` cost (a single item costlier than
  that runs alone: an item is never split);
- slices are filled fairly across requests (start-time fair queuing): the request that has had the
  least cost served so far goes first, a new request starts level with the least-served one (so
  a long request is never starved either), and ties go to the cheaper next item. A short request
  that arrives while a slice of a big one runs therefore waits for that slice only, then joins the
  next one;
- the queue is bounded in cost (``max_queue``): ``submit_many`` raises :class:`QueueFullError`
  when a request's cost does not fit, so the HTTP layer can answer 429;
- a request that has gone ``deadline_s`` without service (queued, none of its items in a model call;
  a big request computed slice after slice keeps being served) is dropped with
  :class:`DeadlineExceededError`, and items whose future was cancelled (the client went away) are
  skipped, so abandoned work is never computed.

An item is never split, so a slice of one long message (16 windows: about a second of CPU) is the
least a short request could wait for. With ``express_cost`` set, a second lane (its own thread)
serves items of at most that cost *while the main lane computes*: a short request then does not
wait for the big slice at all, it shares the cores with it. The lanes call the same batch function
concurrently, so it must be thread-safe (the analyzer is: job threads already share it).

A lone request never waits: only when a slice already holds two or more items (there is
concurrency) does the worker wait, at most ``max_wait_ms``, for more to arrive. Requests that share
a slice never share a failure: when the batch function raises, each item is run again alone, so
only the item that fails alone gets the exception.

``on_drained(cost)`` is called in the worker thread when the queue runs empty, with the cost
computed since the last call (the service returns freed memory to the system after big requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


class QueueFullError(RuntimeError):
    """The batcher's queue is at capacity; the caller should retry later."""


class DeadlineExceededError(RuntimeError):
    """The request waited in the queue past its deadline and was dropped without being computed."""


def text_windows(chars: int, window_tokens: int = 256, max_windows: int = 16) -> int:
    """Cost of a text of ``chars`` characters in encoder windows, estimated without tokenising.

    A window holds ``window_tokens`` tokens less the special and prefix tokens; a token covers one
    character or more (about 1.5 of Chinese, 4 of English), so this is an upper bound in practice.
    The encoder reads at most ``max_windows`` windows of a message (the rest is truncated).
    """
    per_window = max(1, window_tokens - 8)
    return max(1, min(max_windows, math.ceil(chars / per_window)))


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    sizes: list[int] = field(default_factory=list)
    last_batch_s: float = 0.0
    dropped: int = 0  # items never computed: deadline passed or the caller went away

    def record(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.items += size
        self.last_batch_s = seconds
        self.sizes.append(size)
        if len(self.sizes) > 1000:
            del self.sizes[:500]


@dataclass(eq=False)
class _Request(Generic[In, Out]):
    """One ``submit_many`` call: its items in order, when it arrived, how much of it was served."""

    pending: deque[tuple[In, asyncio.Future[Out], int]]
    arrived: float
    waiting_since: float  # arrival, then the end of its last model call: its wait clock runs from here
    in_flight: int  # its items in a model call now (the wait clock is stopped while > 0)
    served: float  # virtual start time + cost served (start-time fair queuing)
    seq: int


_Slot = tuple[In, "asyncio.Future[Out]", int, _Request[In, Out]]  # an item in a slice: item, future, cost, its request


@dataclass(eq=False)
class _Lane:
    """A worker loop with its own inference thread; ``max_item_cost`` limits what it takes (None: anything)."""

    name: str
    max_item_cost: int | None
    executor: ThreadPoolExecutor
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    busy: bool = False
    task: asyncio.Task[None] | None = None


class DynamicBatcher(Generic[In, Out]):
    def __init__(
        self,
        fn: Callable[[list[In]], Sequence[Out]],
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        on_batch: Callable[[int, float], None] | None = None,
        cost: Callable[[In], int] | None = None,
        max_batch_cost: int | None = None,
        deadline_s: float | None = None,
        on_drained: Callable[[int], None] | None = None,
        express_cost: int = 0,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0 or express_cost < 0:
            raise ValueError("max_batch and max_queue must be >= 1, max_wait_ms and express_cost >= 0")
        if (max_batch_cost is not None and max_batch_cost < 1) or (deadline_s is not None and deadline_s <= 0):
            raise ValueError("max_batch_cost must be >= 1 and deadline_s > 0")
        self._fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.max_batch_cost = max_batch_cost
        self.deadline_s = deadline_s
        self.express_cost = express_cost
        self._cost = cost or (lambda _: 1)
        self._requests: list[_Request[In, Out]] = []
        self._queued_cost = 0
        self._queued_items = 0
        self._seq = 0
        self._lanes: list[_Lane] = []
        self._on_batch = on_batch
        self._on_drained = on_drained
        self._cost_since_drained = 0
        self.stats = BatchStats()

    @property
    def depth(self) -> int:
        """Items queued (not yet in a model call)."""
        return self._queued_items

    @property
    def queued_cost(self) -> int:
        return self._queued_cost

    def cost(self, items: Sequence[In]) -> int:
        return sum(self._cost(item) for item in items)

    def oldest_wait_s(self) -> float:
        """How long a queued request has gone without service (0 when nothing waits): since it arrived, or since
        its last model call ended, not counting time while one of its items is in a model call. A big request
        computed slice after slice is being served; a request that nobody serves is waiting."""
        waits = [time.monotonic() - r.waiting_since for r in self._requests if not r.in_flight]
        return max(0.0, max(waits, default=0.0))

    def start(self) -> None:
        if self._lanes:
            return
        running = asyncio.get_running_loop()
        self._lanes.append(_Lane("main", None, ThreadPoolExecutor(1, thread_name_prefix="tousu-infer")))
        if self.express_cost:
            self._lanes.append(_Lane("express", self.express_cost, ThreadPoolExecutor(1, "tousu-express")))
        for lane in self._lanes:
            lane.task = running.create_task(self._loop(lane), name=f"tousu-batcher-{lane.name}")

    async def stop(self) -> None:
        for lane in self._lanes:
            if lane.task is not None:
                lane.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
        for request in self._requests:
            for _, fut, _ in request.pending:
                _resolve(fut, RuntimeError("batcher stopped"))
        self._requests.clear()
        self._queued_cost = self._queued_items = 0
        for lane in self._lanes:
            lane.executor.shutdown(wait=True)
        self._lanes.clear()

    async def submit(self, item: In) -> Out:
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: Sequence[In]) -> list[Out]:
        """Queue all items as one request, or none (a partial enqueue would strand futures).

        Cancelling the caller cancels the request's futures: items not yet computed are skipped.
        """
        if not self._lanes:
            raise RuntimeError("batcher not started")
        costs = [self._cost(item) for item in items]
        total = sum(costs)
        if self._queued_cost + total > self.max_queue:
            raise QueueFullError(f"queue full ({self._queued_cost} + {total} > {self.max_queue} cost units)")
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        request: _Request[In, Out] = _Request(
            pending=deque((item, loop.create_future(), c) for item, c in zip(items, costs, strict=True)),
            arrived=now,
            waiting_since=now,
            in_flight=0,
            served=min((r.served for r in self._requests), default=0.0),
            seq=self._seq,
        )
        self._seq += 1
        futures = [fut for _, fut, _ in request.pending]
        if futures:
            self._requests.append(request)
            self._queued_cost += total
            self._queued_items += len(futures)
            for lane in self._lanes:
                lane.wakeup.set()
        return list(await asyncio.gather(*futures))

    # -- scheduling ---------------------------------------------------------------------------------
    def _prune(self) -> None:
        """Drop cancelled items and requests past their deadline (their futures fail); forget empty requests."""
        now = time.monotonic()
        kept: list[_Request[In, Out]] = []
        for request in self._requests:
            expired = (
                self.deadline_s is not None and not request.in_flight and now - request.waiting_since > self.deadline_s
            )
            while request.pending and (expired or request.pending[0][1].done()):
                _, fut, c = request.pending.popleft()
                self._queued_cost -= c
                self._queued_items -= 1
                if not fut.done():
                    self.stats.dropped += 1
                    fut.set_exception(DeadlineExceededError(f"waited over {self.deadline_s:g}s without service"))
                elif fut.cancelled():
                    self.stats.dropped += 1
            if request.pending:
                kept.append(request)
        self._requests = kept

    def _fits(self, request: _Request[In, Out], lane: _Lane, batch_cost: int, empty: bool) -> bool:
        if not request.pending:
            return False
        c = request.pending[0][2]
        if lane.max_item_cost is not None and c > lane.max_item_cost:
            return False
        return self.max_batch_cost is None or empty or batch_cost + c <= self.max_batch_cost

    def _fill(self, lane: _Lane, batch: list[_Slot[In, Out]], cost: int) -> int:
        """Add items to ``batch`` fairly across requests until a limit is reached; returns the slice's cost."""
        while len(batch) < self.max_batch:
            self._prune()
            candidates = [r for r in self._requests if self._fits(r, lane, cost, not batch)]
            if not candidates:
                break
            pick = min(candidates, key=lambda r: (r.served, r.pending[0][2], r.seq))
            item, fut, c = pick.pending.popleft()
            pick.served += c
            pick.in_flight += 1
            self._queued_cost -= c
            self._queued_items -= 1
            batch.append((item, fut, c, pick))
            cost += c
        self._prune()
        return cost

    def _may_run(self, lane: _Lane) -> bool:
        """The main lane takes anything; the express lane only works while the main one computes."""
        return lane.max_item_cost is None or self._lanes[0].busy

    async def _loop(self, lane: _Lane) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._prune()
            if not self._requests or not self._may_run(lane):
                if lane is self._lanes[0] and self._cost_since_drained and self._on_drained is not None:
                    spent, self._cost_since_drained = self._cost_since_drained, 0
                    await loop.run_in_executor(lane.executor, self._drained, spent)
                    continue  # requests may have arrived meanwhile
                lane.wakeup.clear()
                await lane.wakeup.wait()
                continue
            await asyncio.sleep(0)  # requests submitted in the same tick join this slice
            if not self._may_run(lane):
                continue
            batch: list[_Slot[In, Out]] = []
            cost = self._fill(lane, batch, 0)
            if not batch:  # nothing this lane may take (express: only costly items are queued)
                lane.wakeup.clear()
                await lane.wakeup.wait()
                continue
            deadline = loop.time() + self.max_wait
            # Concurrency: wait (bounded) for the slice to fill. A lone item never waits.
            while 1 < len(batch) < self.max_batch and (self.max_batch_cost is None or cost < self.max_batch_cost):
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                lane.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.wakeup.wait(), timeout)
                cost = self._fill(lane, batch, cost)
            live = [(item, fut) for item, fut, _, _ in batch if not fut.done()]
            self.stats.dropped += len(batch) - len(live)
            self._cost_since_drained += cost
            lane.busy = True
            if lane is self._lanes[0]:
                for other in self._lanes[1:]:
                    other.wakeup.set()  # the express lane may now serve cheap requests beside this slice
            try:
                if live:
                    await self._run(lane, live)
            finally:
                lane.busy = False
                now = time.monotonic()
                for *_, request in batch:  # its wait clock starts again now
                    request.in_flight -= 1
                    request.waiting_since = now

    async def _run(self, lane: _Lane, live: list[tuple[In, asyncio.Future[Out]]]) -> None:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            outputs = await loop.run_in_executor(lane.executor, self._call, [i for i, _ in live])
        except Exception as exc:  # resolve every waiter; never kill the loop
            if len(live) == 1:
                logger.error("a batch of 1 failed (%s)", type(exc).__name__)
                _resolve(live[0][1], exc)
            else:
                logger.warning("a batch of %d failed (%s); running it item by item", len(live), type(exc).__name__)
                await self._run_alone(lane, live)
            return
        elapsed = time.perf_counter() - start
        self.stats.record(len(live), elapsed)
        if self._on_batch is not None:
            self._on_batch(len(live), elapsed)
        for (_, fut), out in zip(live, outputs, strict=True):
            _resolve(fut, out)

    def _drained(self, spent: int) -> None:
        assert self._on_drained is not None
        try:
            self._on_drained(spent)
        except Exception as exc:  # housekeeping must never stop the batcher
            logger.warning("on_drained failed (%s)", type(exc).__name__)

    def _call(self, items: list[In]) -> Sequence[Out]:
        outputs = self._fn(items)
        if len(outputs) != len(items):
            raise RuntimeError(f"batch function returned {len(outputs)} outputs for {len(items)} inputs")
        return outputs

    async def _run_alone(self, lane: _Lane, live: list[tuple[In, asyncio.Future[Out]]]) -> None:
        """After a failed batch: each item alone, so one poison item fails only its own request."""
        loop = asyncio.get_running_loop()
        for item, fut in live:
            if fut.done():
                continue
            try:
                [out] = await loop.run_in_executor(lane.executor, self._call, [item])
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
