"""The micro-batcher with a fake predict function: bursts share passes, failures stay in their batch."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from distillery.errors import ServingError
from serving.batching import MicroBatcher


class FakePredict:
    """Answers each text with its upper-case form; records every batch and the thread it ran in."""

    def __init__(self, delay_s: float = 0.0, fail_on: str | None = None, short: bool = False) -> None:
        self.delay_s, self.fail_on, self.short = delay_s, fail_on, short
        self.batches: list[tuple[str, list[str]]] = []
        self.threads: set[int] = set()

    def __call__(self, task: str, texts: list[str]) -> list[str]:
        self.batches.append((task, list(texts)))
        self.threads.add(threading.get_ident())
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError(f"the model broke on {self.fail_on}")
        out = [f"{task}:{t.upper()}" for t in texts]
        return out[:-1] if self.short else out


async def test_a_burst_is_answered_in_fewer_passes_than_requests_each_with_its_own_answer() -> None:
    fn = FakePredict(delay_s=0.01)
    batcher: MicroBatcher[str] = MicroBatcher(fn, max_batch=8, max_wait_ms=50)
    texts = [f"t{i}" for i in range(20)]
    got = await asyncio.gather(*(batcher.submit("toy", t) for t in texts))
    assert got == [f"toy:{t.upper()}" for t in texts]
    assert [len(b) for _, b in fn.batches] == [8, 8, 4]
    stats = batcher.stats["toy"]
    assert (stats.batches, stats.requests, stats.max_batch_size) == (3, 20, 8)
    assert stats.mean_batch_size == pytest.approx(20 / 3)
    assert threading.get_ident() not in fn.threads  # the passes ran off the event loop
    await batcher.aclose()


async def test_a_lone_request_waits_max_wait_at_most() -> None:
    fn = FakePredict()
    batcher: MicroBatcher[str] = MicroBatcher(fn, max_batch=32, max_wait_ms=30)
    started = time.perf_counter()
    assert await batcher.submit("toy", "a") == "toy:A"
    took = time.perf_counter() - started
    assert 0.025 <= took < 0.5
    zero: MicroBatcher[str] = MicroBatcher(fn, max_batch=32, max_wait_ms=0)
    started = time.perf_counter()
    assert await zero.submit("toy", "b") == "toy:B"
    assert time.perf_counter() - started < 0.2
    await batcher.aclose()
    await zero.aclose()


async def test_requests_queue_behind_a_running_pass_and_join_the_next_batch_even_without_waiting() -> None:
    fn = FakePredict(delay_s=0.1)
    batcher: MicroBatcher[str] = MicroBatcher(fn, max_batch=32, max_wait_ms=0)
    first = asyncio.ensure_future(batcher.submit("toy", "first"))
    await asyncio.sleep(0.03)  # the first pass is running now
    rest = await asyncio.gather(*(batcher.submit("toy", f"r{i}") for i in range(10)))
    assert await first == "toy:FIRST" and len(rest) == 10
    assert [len(b) for _, b in fn.batches] == [1, 10]
    await batcher.aclose()


async def test_tasks_batch_apart() -> None:
    fn = FakePredict()
    batcher: MicroBatcher[str] = MicroBatcher(fn, max_batch=8, max_wait_ms=20)
    got = await asyncio.gather(*(batcher.submit(task, "x") for task in ("a", "b", "a", "b")))
    assert got == ["a:X", "b:X", "a:X", "b:X"]
    assert sorted((task, len(texts)) for task, texts in fn.batches) == [("a", 2), ("b", 2)]
    assert batcher.total().requests == 4 and batcher.total().batches == 2
    await batcher.aclose()


async def test_a_failure_fails_its_batch_only_and_the_batcher_goes_on() -> None:
    fn = FakePredict(fail_on="bad")
    batcher: MicroBatcher[str] = MicroBatcher(fn, max_batch=2, max_wait_ms=20)
    got = await asyncio.gather(*(batcher.submit("toy", t) for t in ("bad", "x", "y", "z")), return_exceptions=True)
    assert [type(g).__name__ for g in got[:2]] == ["RuntimeError", "RuntimeError"]
    assert got[2:] == ["toy:Y", "toy:Z"]
    assert await batcher.submit("toy", "after") == "toy:AFTER"
    assert batcher.stats["toy"].failed_batches == 1
    short: MicroBatcher[str] = MicroBatcher(FakePredict(short=True), max_batch=4, max_wait_ms=0)
    with pytest.raises(ServingError, match="1 inputs got 0 answers"):
        await short.submit("toy", "x")
    await batcher.aclose()
    await short.aclose()


async def test_a_caller_that_went_away_is_dropped_and_closing_fails_the_waiting() -> None:
    fn = FakePredict(delay_s=0.1)
    batcher: MicroBatcher[str] = MicroBatcher(fn, max_batch=32, max_wait_ms=0)
    first = asyncio.ensure_future(batcher.submit("toy", "first"))
    await asyncio.sleep(0.03)
    gone = asyncio.ensure_future(batcher.submit("toy", "gone"))
    kept = asyncio.ensure_future(batcher.submit("toy", "kept"))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == "toy:KEPT" and await first == "toy:FIRST"
    assert fn.batches[1] == ("toy", ["kept"]) and batcher.stats["toy"].dropped == 1
    slow = asyncio.ensure_future(batcher.submit("toy", "slow"))
    await asyncio.sleep(0.03)
    waiting = asyncio.ensure_future(batcher.submit("toy", "waiting"))
    await asyncio.sleep(0)
    await batcher.aclose()
    for fut in (slow, waiting):
        with pytest.raises(ServingError, match="closed"):
            await fut
    with pytest.raises(ServingError, match="closed"):
        await batcher.submit("toy", "late")
