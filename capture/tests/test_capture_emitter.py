"""The background emitter without a broker: bounded, non-blocking, every event accounted for."""

from __future__ import annotations

import logging
import time

import pytest

from distillery_capture import CaptureStats, InferenceEvent, KafkaEmitter
from distillery_capture.ratelog import Throttled

DOWN = "127.0.0.1:1"


def event(i: int) -> InferenceEvent:
    return InferenceEvent(event_id=f"e-{i}", task="transactions", input=f"SHELL OIL {i}")


def test_full_buffer_drops_the_new_event_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    em = KafkaEmitter(DOWN, "inference.events", max_queue=3, backoff_s=(5.0, 5.0))
    try:
        with caplog.at_level(logging.WARNING, logger="distillery_capture.emitter"):
            t0 = time.perf_counter()
            accepted = [em.offer(event(i)) for i in range(1000)]
            took = time.perf_counter() - t0
        assert accepted == [True] * 3 + [False] * 997
        assert took < 0.5, f"1000 offers took {took * 1000:.0f} ms"
        assert em.stats() == CaptureStats(dropped_full=997, pending=3)
        full_lines = [r for r in caplog.records if "buffer full" in r.getMessage()]
        assert len(full_lines) == 1  # throttled: one line, not 997
        assert em.flush(0.05) is False
    finally:
        s = em.close(0.2)
    assert s == CaptureStats(dropped_full=997, dropped_error=3)


def test_close_with_nothing_buffered_returns_at_once_even_when_kafka_is_down() -> None:
    em = KafkaEmitter(DOWN, "inference.events")
    assert em.flush(0.01) is True
    t0 = time.perf_counter()
    assert em.close(5.0) == CaptureStats()
    assert time.perf_counter() - t0 < 1.0
    assert em.offer(event(1)) is False
    assert em.stats() == CaptureStats(dropped_error=1)
    assert em.close(0.1) == CaptureStats(dropped_error=1)  # closing twice is harmless


def test_errors_and_skips_are_counted() -> None:
    em = KafkaEmitter(DOWN, "inference.events")
    try:
        em.note_skipped("stream")
        em.note_error("capture", RuntimeError("x"))
        assert em.stats() == CaptureStats(dropped_error=1, skipped=1)
    finally:
        em.close(0.1)


def test_throttled_keys_are_independent() -> None:
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("test-capture-throttled")
    logger.addHandler(Keep())
    logger.propagate = False
    now = [0.0]
    warn = Throttled(logger, every_s=10.0, clock=lambda: now[0])
    warn("a", "a %d", 1)
    warn("b", "b %d", 1)
    warn("a", "a %d", 2)
    now[0] = 9.9
    warn("a", "a %d", 3)
    now[0] = 10.0
    warn("a", "a %d", 4)
    warn("b", "b %d", 2)
    assert seen == ["a 1", "b 1", "a 4 (2 more since the last report)", "b 2"]
