"""The batch consumer: commits after the handler, never before; a batch fetched across a
rebalance is read again, never skipped; revocation waits for the batch in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord

from streams.consumer import Batch, BatchConsumer, first_offsets, flatten, next_offsets
from streams.source import Source

T0, T1, D0 = TopicPartition("in", 0), TopicPartition("in", 1), TopicPartition("drift", 0)


def rec(tp: TopicPartition, offset: int, value: bytes = b"v") -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", value, 0, len(value), None, [])


class FakeKafka:
    """Stands in for AIOKafkaConsumer: hands out scripted batches, records commits and seeks."""

    def __init__(self, batches: list[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]],
                 assigned: set[TopicPartition]) -> None:
        self.batches = batches
        self.assigned = assigned
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.before_return: Any = None
        self.commit_error: Exception | None = None

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        if not self.batches:
            raise asyncio.CancelledError  # the script is over: stop the loop like a worker shutdown
        if self.before_return is not None:
            hook, self.before_return = self.before_return, None
            await hook()
        return self.batches.pop(0)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        self.commits.append(dict(offsets))

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


async def _run(consumer: BatchConsumer, handle: Any) -> None:
    with pytest.raises(asyncio.CancelledError):
        await consumer.run(handle)


def test_next_offsets_is_one_past_the_highest_offset_per_partition() -> None:
    records = [rec(T0, 5), rec(T1, 9), rec(T0, 7), rec(T0, 6)]
    assert next_offsets(records) == {T0: 8, T1: 10}
    assert first_offsets({T0: [rec(T0, 5), rec(T0, 7)], T1: [rec(T1, 9)], D0: []}) == {T0: 5, T1: 9}


def test_flatten_orders_partitions_and_keeps_offsets_ascending() -> None:
    fetched = {T1: [rec(T1, 3), rec(T1, 4)], D0: [rec(D0, 0)], T0: [rec(T0, 1)]}
    assert [(r.topic, r.partition, r.offset) for r in flatten(fetched)] == [
        ("drift", 0, 0), ("in", 0, 1), ("in", 1, 3), ("in", 1, 4)]


def test_raws_carry_topic_partition_and_offset_of_one_topic() -> None:
    batch = Batch([rec(D0, 0, b"d"), rec(T1, 3, b"a"), rec(T1, 4, b"b")])
    assert batch.raws("in") == [(b"a", b"k", Source("in", 1, 3)), (b"b", b"k", Source("in", 1, 4))]
    assert batch.raws("drift") == [(b"d", b"k", Source("drift", 0, 0))]


async def test_offsets_are_committed_after_the_handler_and_only_then() -> None:
    kafka = FakeKafka([{T0: [rec(T0, 0), rec(T0, 1)]}, {T0: [rec(T0, 2)], T1: [rec(T1, 7)]}], {T0, T1})
    seen: list[tuple[int, list[int]]] = []

    async def handle(batch: Batch) -> None:
        seen.append((len(kafka.commits), [r.offset for r in batch.records]))

    await _run(BatchConsumer(kafka, ["in"], max_records=10, wait_s=0.1, on_revoked=lambda: None),  # type: ignore[arg-type]
               handle)
    # each handler call saw the commits of the batches before it, not its own
    assert seen == [(0, [0, 1]), (1, [2, 7])]
    assert kafka.commits == [{T0: 2}, {T0: 3, T1: 8}]


async def test_a_failing_handler_commits_nothing() -> None:
    kafka = FakeKafka([{T0: [rec(T0, 0)]}], {T0})

    async def handle(batch: Batch) -> None:
        raise RuntimeError("DuckDB is gone")

    consumer = BatchConsumer(kafka, ["in"], max_records=10, wait_s=0.1, on_revoked=lambda: None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="DuckDB is gone"):
        await consumer.run(handle)
    assert kafka.commits == []


async def test_a_refused_commit_is_logged_and_the_loop_goes_on() -> None:
    kafka = FakeKafka([{T0: [rec(T0, 0)]}, {T0: [rec(T0, 1)]}], {T0})
    kafka.commit_error = CommitFailedError("rebalanced")
    handled: list[int] = []

    async def handle(batch: Batch) -> None:
        handled.append(batch.records[0].offset)

    await _run(BatchConsumer(kafka, ["in"], max_records=10, wait_s=0.1, on_revoked=lambda: None),  # type: ignore[arg-type]
               handle)
    assert handled == [0, 1] and kafka.commits == []


async def test_a_batch_fetched_across_a_rebalance_is_dropped_and_read_again() -> None:
    kafka = FakeKafka([{T0: [rec(T0, 4), rec(T0, 5)], T1: [rec(T1, 9)]}, {T0: [rec(T0, 4)]}], {T0})
    revoked: list[int] = []
    consumer = BatchConsumer(kafka, ["in"], max_records=10, wait_s=0.1,  # type: ignore[arg-type]
                             on_revoked=lambda: revoked.append(len(kafka.commits)))
    kafka.before_return = consumer._revoked  # the group rebalances while getmany waits
    handled: list[list[int]] = []

    async def handle(batch: Batch) -> None:
        handled.append([r.offset for r in batch.records])

    await _run(consumer, handle)
    assert revoked == [0]
    assert kafka.seeks == [(T0, 4)]  # T0 is still ours: back to the batch's first record; T1 went elsewhere
    assert handled == [[4]] and kafka.commits == [{T0: 5}]


async def test_revocation_waits_for_the_batch_in_flight_to_commit() -> None:
    kafka = FakeKafka([{T0: [rec(T0, 0)]}], {T0})
    events: list[str] = []
    consumer = BatchConsumer(kafka, ["in"], max_records=10, wait_s=0.1,  # type: ignore[arg-type]
                             on_revoked=lambda: events.append(f"revoked after {len(kafka.commits)} commits"))

    async def handle(batch: Batch) -> None:
        revoking = asyncio.ensure_future(consumer._revoked())
        await asyncio.sleep(0.01)  # the listener runs now, mid-batch: it must wait
        events.append("handled")
        handle.revoking = revoking  # type: ignore[attr-defined]

    await _run(consumer, handle)
    await handle.revoking  # type: ignore[attr-defined]
    assert events == ["handled", "revoked after 1 commits"]
