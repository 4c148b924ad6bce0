"""What the store holds, the topics get: the outbox (issue #13).

Before: a batch was written to DuckDB, then its labeled examples and review items
were produced. A produce failure or a kill in between left them never published:
the redelivered events were "already seen" and skipped. Now the records are written
with the batch and deleted once Kafka has them; the task's next owner publishes
what is left before anything else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from hostile_support import FakeTeacher, settings_for

from distillery.counters import Counters
from distillery.events import InferenceEvent
from streams.app import BatchHandler
from streams.consumer import Batch
from streams.pipeline import Pipeline


class Broker:
    """``send`` that keeps what it was given, or fails like a broker that went away."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> Any:
        if self.fail:
            raise ConnectionError("broker went away")
        self.sent.append((topic, value))

        async def done() -> None:
            return None

        return done()


def _batch(events: list[InferenceEvent], topic: str) -> Batch:
    return Batch([ConsumerRecord(topic, 0, i, 0, 0, b"transactions", e.to_json(), None, 0, 0, [])
                  for i, e in enumerate(events)])


async def test_records_a_failed_publish_left_behind_go_out_with_the_next_owners_first_batch(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    topics = settings.topics
    teacher = FakeTeacher(list(settings.task("transactions").labels))
    events = [InferenceEvent(event_id=f"ev-{i}", task="transactions", input=f"MERCHANT {i} {'QWERTYUIOP'[i] * 4}",
                             ts=1_780_000_000_000 + i) for i in range(10)]
    first = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        with pytest.raises(ConnectionError):
            await BatchHandler(first, topics, Broker(fail=True).send)(_batch(events, topics.inference))
        left = first.store("transactions").outbox()
    finally:
        await first.close()
    calls = teacher.calls
    assert calls == 10 and len(left) == 10  # every event labeled or sent to review, none published

    broker = Broker()
    second = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        await BatchHandler(second, topics, broker.send)(_batch(events, topics.inference))  # the redelivery
        assert second.store("transactions").outbox() == []
        assert second.counters.get("transactions", "outbox_replayed") == 10
    finally:
        await second.close()
    assert teacher.calls == calls  # the redelivered events were not labeled again
    published = {(topic, value) for topic, value in broker.sent}
    assert published == {({"labeled": topics.labeled, "review": topics.review}[kind], value)
                         for _, kind, _, value in left}


async def test_a_published_batch_leaves_nothing_in_the_outbox(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    teacher = FakeTeacher(list(settings.task("transactions").labels))
    events = [InferenceEvent(event_id=f"ev-{i}", task="transactions", input=f"SHOP {i} {'ASDFGHJKLZ'[i] * 4}",
                             ts=1_780_000_000_000 + i) for i in range(10)]
    pipeline = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    broker = Broker()
    try:
        await BatchHandler(pipeline, settings.topics, broker.send)(_batch(events, settings.topics.inference))
        assert len(broker.sent) == 10 and pipeline.store("transactions").outbox() == []
    finally:
        await pipeline.close()
