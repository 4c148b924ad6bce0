"""Micro-batching: the concurrent requests of a task answered by one forward pass.

A :class:`MicroBatcher` keeps one lane per task. A request joins its task's
lane and waits for its own answer; the lane's worker takes the requests waiting
(at most ``max_batch``) once the batch is full or ``max_wait_ms`` after its
first request arrived, whichever comes first, and answers them with one call of
``fn(task, texts)`` run off the event loop (:func:`asyncio.to_thread`). While a
batch runs, the next one gathers behind it, so under load batches grow on their
own, even with ``max_wait_ms=0``; an idle server answers a lone request after
``max_wait_ms`` at most.

An exception from ``fn`` (or an answer list of the wrong length) fails the
futures of that batch only; the worker goes on with the next one. A request
whose caller went away (its future was cancelled) is dropped before the pass.

:attr:`MicroBatcher.stats` counts batches, requests and the batch sizes per
task, so a test or a benchmark can see that a burst of requests took fewer
forward passes than it had requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from distillery.errors import ServingError

log = logging.getLogger("distillery.serving")

R = TypeVar("R")

BatchFn = Callable[[str, list[str]], Sequence[R]]
"""``fn(task, texts)``: one answer per text, in order; called in a worker thread."""


@dataclass
class BatchStats:
    """What one task's lane (or all of them) did so far."""

    batches: int = 0
    requests: int = 0
    failed_batches: int = 0
    dropped: int = 0
    max_batch_size: int = 0
    busy_s: float = 0.0

    @property
    def mean_batch_size(self) -> float:
        """Requests per forward pass; 0.0 before the first batch."""
        return self.requests / self.batches if self.batches else 0.0

    def add(self, other: BatchStats) -> None:
        self.batches += other.batches
        self.requests += other.requests
        self.failed_batches += other.failed_batches
        self.dropped += other.dropped
        self.max_batch_size = max(self.max_batch_size, other.max_batch_size)
        self.busy_s += other.busy_s

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "requests": self.requests, "mean_batch_size": round(self.mean_batch_size, 3),
                "max_batch_size": self.max_batch_size, "failed_batches": self.failed_batches,
                "dropped": self.dropped, "busy_s": round(self.busy_s, 4)}


@dataclass
class _Waiting(Generic[R]):
    text: str
    future: asyncio.Future[R]
    at: float


@dataclass
class _Lane(Generic[R]):
    items: deque[_Waiting[R]] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    full: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None


class MicroBatcher(Generic[R]):
    """Gathers concurrent requests per task into batches for ``fn``; bound to the loop it first runs on."""

    def __init__(self, fn: BatchFn[R], *, max_batch: int = 32, max_wait_ms: float = 5.0) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms: at least 0, got {max_wait_ms}")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.stats: dict[str, BatchStats] = {}
        self._lanes: dict[str, _Lane[R]] = {}
        self._closed = False

    async def submit(self, task: str, text: str) -> R:
        """The answer to ``text``, computed in a batch with the other requests of ``task`` waiting now."""
        if self._closed:
            raise ServingError("the batcher is closed")
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(task)
        if lane is None:
            lane = self._lanes[task] = _Lane()
            self.stats[task] = BatchStats()
            lane.worker = loop.create_task(self._work(task, lane), name=f"distillery-batcher-{task}")
        future: asyncio.Future[R] = loop.create_future()
        lane.items.append(_Waiting(text, future, loop.time()))
        lane.ready.set()
        if len(lane.items) >= self.max_batch:
            lane.full.set()
        return await future

    def total(self) -> BatchStats:
        """Every task's counters added up."""
        out = BatchStats()
        for stats in self.stats.values():
            out.add(stats)
        return out

    async def aclose(self) -> None:
        """Stop the workers; requests still waiting fail with :class:`ServingError`."""
        self._closed = True
        for lane in self._lanes.values():
            if lane.worker is not None:
                lane.worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.worker
            while lane.items:
                waiting = lane.items.popleft()
                if not waiting.future.done():
                    waiting.future.set_exception(ServingError("the batcher closed before this request ran"))
        self._lanes.clear()

    # ------------------------------------------------------------- internals
    async def _work(self, task: str, lane: _Lane[R]) -> None:
        loop = asyncio.get_running_loop()
        stats = self.stats[task]
        while True:
            await lane.ready.wait()
            deadline = lane.items[0].at + self.max_wait_s
            while len(lane.items) < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                lane.full.clear()
                try:
                    await asyncio.wait_for(lane.full.wait(), remaining)
                except TimeoutError:
                    break
            taken = [lane.items.popleft() for _ in range(min(self.max_batch, len(lane.items)))]
            if not lane.items:
                lane.ready.clear()
            lane.full.clear()
            batch = [w for w in taken if not w.future.done()]  # a caller that went away needs no answer
            stats.dropped += len(taken) - len(batch)
            if batch:
                await self._run(task, batch, stats)

    async def _run(self, task: str, batch: list[_Waiting[R]], stats: BatchStats) -> None:
        started = time.perf_counter()
        try:
            answers = await asyncio.to_thread(self.fn, task, [w.text for w in batch])
            if len(answers) != len(batch):
                raise ServingError(f"task {task}: {len(batch)} inputs got {len(answers)} answers")
        except asyncio.CancelledError:  # the batcher is closing: nobody may wait forever
            for w in batch:
                if not w.future.done():
                    w.future.set_exception(ServingError("the batcher closed while this request ran"))
            raise
        except Exception as exc:  # noqa: BLE001 - the batch's callers get it; the worker and the server go on
            stats.failed_batches += 1
            for w in batch:
                if not w.future.done():
                    w.future.set_exception(exc)
            log.debug("task %s: a batch of %d failed: %s", task, len(batch), exc)
            return
        finally:
            stats.batches += 1
            stats.requests += len(batch)
            stats.max_batch_size = max(stats.max_batch_size, len(batch))
            stats.busy_s += time.perf_counter() - started
        for w, answer in zip(batch, answers, strict=True):
            if not w.future.done():
                w.future.set_result(answer)
