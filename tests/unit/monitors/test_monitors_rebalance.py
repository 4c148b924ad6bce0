"""A batch a rebalance overtook is read again, never lost (issue #13's flaky two-worker test).

``getmany`` can return records fetched after a rebalance (from the new
assignment), which moved the consumer's position past them; the worker drops a
batch whose generation changed, so without a seek back those records were never
seen: under load the owning worker then never saw every answer.
"""

from __future__ import annotations

from aiokafka import ConsumerRecord, TopicPartition

from distillery.settings import Settings
from monitors.app import MonitorsWorker


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def _rec(tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


def test_a_dropped_batch_is_read_again_from_its_first_record(settings_factory) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = settings_factory()
    worker = MonitorsWorker(settings)
    kept, gone = TopicPartition("distill.labeled", 2), TopicPartition("distill.labeled", 0)
    consumer = FakeConsumer({kept})
    worker.consumer = consumer  # type: ignore[assignment]
    worker._refetch({kept: [_rec(kept, 40), _rec(kept, 41)], gone: [_rec(gone, 7)]})
    assert consumer.seeks == [(kept, 40)]  # a partition now elsewhere is its new owner's to read
