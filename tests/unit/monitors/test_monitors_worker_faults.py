"""Faults the monitors worker meets lose nothing (issue #13).

A batch a rebalance overtook is read again, never lost (the flaky two-worker test).

``getmany`` can return records fetched after a rebalance (from the new
assignment), which moved the consumer's position past them; the worker drops a
batch whose generation changed, so without a seek back those records were never
seen: under load the owning worker then never saw every answer. And a drift
event that could not be published stops all checkpoints, so it is raised again.
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


class FailingProducer:
    async def send_and_wait(self, *args: object, **kwargs: object) -> None:
        raise ConnectionError("broker went away")


class CommitConsumer(FakeConsumer):
    def __init__(self) -> None:
        super().__init__(set())
        self.commits: list[object] = []

    async def commit(self, offsets: object) -> None:
        self.commits.append(offsets)


async def test_no_checkpoint_is_taken_after_a_drift_event_could_not_be_published(settings_factory) -> None:  # type: ignore[no-untyped-def]
    """Before: the detectors that fired were checkpointed anyway, so after a restart the alarm never went out."""
    import pytest

    from distillery.events import DriftEvent

    settings: Settings = settings_factory()
    worker = MonitorsWorker(settings)
    worker.task("transactions")  # a monitor to save
    worker.dirty.add("transactions")
    consumer = CommitConsumer()
    worker.consumer = consumer  # type: ignore[assignment]
    worker._producer = FailingProducer()
    alarm = DriftEvent(task="transactions", signal="category_mix", detector="CUSUM")

    async def handle(rec: object) -> list[DriftEvent]:
        return [alarm]

    worker.handle = handle  # type: ignore[method-assign]
    tp = TopicPartition("distill.labeled", 1)
    with pytest.raises(ConnectionError):
        await worker._process({tp: [_rec(tp, 9)]})
    saved: list[str] = []
    worker.checkpoints.save = lambda monitor, stats: saved.append(monitor)  # type: ignore[method-assign]
    await worker.checkpoint()
    assert saved == [] and consumer.commits == [] and tp not in worker.processed
    assert worker.unpublished is not None and "category_mix" in worker.unpublished
