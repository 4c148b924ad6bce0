"""The monitors' record handlers, without a Kafka client: what each record does to its task's monitor.

Split out of the worker module (issue #16); the worker (:mod:`monitors.app`) is the loop around them.
"""

from __future__ import annotations

import asyncio

from aiokafka import ConsumerRecord

from distillery.events import LabeledExample
from distillery.settings import Settings
from monitors.handlers import Handlers


def _rec(topic: str, offset: int, value: bytes | None, key: bytes = b"transactions") -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, 0, 0, key, value, None, 1, 1, [])


def test_a_teacher_label_is_counted_once_even_when_redelivered(settings_factory) -> None:  # type: ignore[no-untyped-def]
    s: Settings = settings_factory()
    handlers = Handlers(s)
    example = LabeledExample(task="transactions", event_id="e1", input="STARBUCKS 1234", label="dining",
                             source="teacher", cost_usd=0.25).to_json()
    for _ in range(2):  # the second time at the same offset: a redelivery after a restart
        assert asyncio.run(handlers.handle(_rec(s.topics.labeled, 7, example))) == []
    monitor, stats = handlers.task("transactions")
    assert monitor.offsets == {(s.topics.labeled, 0): 7}
    assert (stats.counts["labeled"], stats.counts["spend_usd"]) == (1, 0.25)
    assert handlers.dirty == {"transactions"}


def test_unreadable_messages_are_counted_by_topic_and_skipped(settings_factory) -> None:  # type: ignore[no-untyped-def]
    s: Settings = settings_factory()
    handlers = Handlers(s)
    foreign = LabeledExample(task="nobody", event_id="e", input="x", label="y", source="ground_truth").to_json()
    for offset, value in enumerate((b"{not json", None, foreign)):
        assert asyncio.run(handlers.handle(_rec(s.topics.labeled, offset, value))) == []
    assert asyncio.run(handlers.handle(_rec(s.topics.train_jobs, 0, b"[]"))) == []
    handlers.on_counters(_rec(s.topics.counters, 0, b'{"counts": {"transactions": {"teacher_calls": "many"}}}'))
    assert dict(handlers.ops.malformed) == {s.topics.labeled: 3, s.topics.train_jobs: 1, s.topics.counters: 1}
    assert handlers.monitors == {}
