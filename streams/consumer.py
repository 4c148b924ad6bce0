"""The streams worker's way in: one aiokafka consumer reading whole batches.

The worker used to read ``inference.events`` through a Faust agent
(``stream.take_events``). Faust hands an agent one event at a time through
queues and tasks: measured on the 2-core development machine, an ingest agent
that does nothing at all tops out at about 13,750 events/s (~70 us per event),
more than the whole pipeline costs per event. ``getmany`` returns thousands of
records in one call, so this consumer reads batches directly, inside the Faust
app (which keeps the producer, the timers, the web server and the worker's life).

What the agent guaranteed, this keeps:

* **at-least-once**: :meth:`BatchConsumer.run` commits a batch's offsets only
  after its handler returned, and the handler returns only after the DuckDB
  commit and after Kafka acknowledged every record it produced. A handler that
  raises commits nothing (the worker crashes; the batch comes back).
* **scale-out**: every worker joins the same consumer group and the partitions
  are split between them. The range assignor gives partition *p* of every
  subscribed topic to one member, so ``drift.events`` (keyed by task like
  ``inference.events``) reaches the worker that reads the task's events.
* **revocation**: the rebalance listener waits for the batch in flight to be
  stored, published and committed, then calls ``on_revoked``. A batch fetched
  before the rebalance but not started is dropped: whoever owns its partitions
  now reads it again from the committed offset (a partition still ours is
  rewound to the batch's first record, so nothing is skipped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord

from distillery.health import Readiness, consumer_lag, judge
from distillery.kafka import consumer
from distillery_capture.preflight import Cluster
from streams.source import Raw, Source

log = logging.getLogger("distillery.streams")



@dataclass(frozen=True)
class Batch:
    """The records of one ``getmany``, in partition order, offsets ascending within each."""

    records: Sequence[ConsumerRecord[bytes, bytes]]

    def raws(self, topic: str) -> list[Raw]:
        """``(value, key, source)`` of the records read from ``topic``."""
        return [(r.value, r.key, Source(r.topic, r.partition, r.offset)) for r in self.records if r.topic == topic]

    def offsets(self) -> dict[TopicPartition, int]:
        """What to commit once the batch is done: per partition, the offset after its last record."""
        return next_offsets(self.records)


def next_offsets(records: Iterable[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, int]:
    """Per partition, one past the highest offset read (Kafka's "next record to read").

    >>> from aiokafka.structs import ConsumerRecord as R
    >>> rec = lambda p, o: R("t", p, o, 0, 0, None, None, 0, 0, None, [])
    >>> next_offsets([rec(0, 5), rec(1, 9), rec(0, 7)])
    {TopicPartition(topic='t', partition=0): 8, TopicPartition(topic='t', partition=1): 10}
    """
    out: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        if r.offset + 1 > out.get(tp, -1):
            out[tp] = r.offset + 1
    return out


def first_offsets(fetched: Mapping[TopicPartition, Sequence[ConsumerRecord[Any, Any]]]) -> dict[TopicPartition, int]:
    """Per partition, the lowest offset fetched: where to read again from to skip nothing."""
    return {tp: min(r.offset for r in recs) for tp, recs in fetched.items() if recs}


def flatten(fetched: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]) -> list[ConsumerRecord[bytes, bytes]]:
    """``getmany``'s answer as one list, partitions in a stable order (topic, partition)."""
    return [r for tp in sorted(fetched, key=lambda t: (t.topic, t.partition)) for r in fetched[tp]]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: BatchConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.owner._revoked()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.joined = True
        log.info("streams: assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


def group_consumer(kafka: Cluster, group_id: str, *, max_fetch_bytes: int) -> AIOKafkaConsumer:
    """The streams workers' consumer: manual commits, range assignment, room for one oversized event."""
    return consumer(
        kafka,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=(RangePartitionAssignor,),
        max_partition_fetch_bytes=max_fetch_bytes,
        fetch_max_bytes=max(max_fetch_bytes, 50 * 1024 * 1024),
        max_poll_interval_ms=1_000_000,  # a batch may wait out a teacher outage (Faust's default too)
        session_timeout_ms=60_000,
        heartbeat_interval_ms=3_000,
    )


class BatchConsumer:
    """Hands a group consumer's batches to a handler and commits after each."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topics: Sequence[str],
        *,
        max_records: int,
        wait_s: float,
        on_revoked: Callable[[], None],
    ) -> None:
        self._consumer = consumer
        self.topics = tuple(topics)
        self.max_records = max_records
        self.wait_ms = max(1, int(wait_s * 1000))
        self.on_revoked = on_revoked
        self._lock = asyncio.Lock()
        self._generation = 0
        self.joined = False

    async def readiness(self, max_lag: int) -> Readiness:
        """``/readyz``: joined the group and at most ``max_lag`` messages behind the partitions' ends."""
        partitions, lag = await consumer_lag(self._consumer)
        return judge(joined=self.joined, partitions=partitions, lag=lag, max_lag=max_lag)

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe(list(self.topics), listener=_Listener(self))

    async def stop(self) -> None:
        await self._consumer.stop()

    async def run(self, handle: Callable[[Batch], Awaitable[None]]) -> None:
        """Fetch, handle and commit batches until cancelled."""
        while True:
            generation = self._generation
            fetched = await self._consumer.getmany(timeout_ms=self.wait_ms, max_records=self.max_records)
            if not fetched:
                continue
            async with self._lock:
                if generation != self._generation:
                    self._rewind(fetched)  # fetched across a rebalance: read it again (or let its new owner)
                    continue
                batch = Batch(flatten(fetched))
                await handle(batch)
                await self._commit(batch.offsets())

    def _rewind(self, fetched: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]) -> None:
        """Set partitions we still hold back to the first record of a dropped batch (none is skipped)."""
        held = self._consumer.assignment()
        for tp, offset in first_offsets(fetched).items():
            if tp in held:
                self._consumer.seek(tp, offset)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # the group moved on without us: the batch is stored, its next owner skips it as a redelivery
            log.warning("streams: offsets not committed (%s); the batch will be redelivered", exc)

    async def _revoked(self) -> None:
        async with self._lock:  # the batch in flight is stored, published and committed first
            self._generation += 1
            self.on_revoked()
