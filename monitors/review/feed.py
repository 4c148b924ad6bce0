"""Kafka into the review queue: a group-less consumer over every partition of the review topics.

Each ``getmany`` batch is parsed against the contract and handed to
:meth:`~monitors.review.queue.ReviewQueue.ingest` together with the offsets it
reaches, in one SQLite transaction: a restart resumes exactly there. A message
that is not the topic's record is logged with where it was and skipped (the
workers that own those topics dead-letter or count such messages already).
"""

from __future__ import annotations

import asyncio
import logging

import pydantic
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from distillery.events import RECORD_BY_TOPIC, Record
from distillery.kafka import consumer as kafka_consumer
from distillery.settings import Settings
from monitors.review.queue import ReviewQueue

log = logging.getLogger("distillery.review")

MAX_FETCH_BYTES = 8 * 1024 * 1024
METADATA_TRIES = 50
"""Metadata refreshes (0.1 s apart) waited for the review topics' partitions (the caller creates the topics)."""


def feed_topics(settings: Settings) -> list[str]:
    """The topics the queue is materialised from."""
    t = settings.topics
    return [t.review, t.labeled, t.reviewed, t.deadletter, t.drift, t.published, t.rejected]


class QueueFeeder:
    """Reads the review topics into a :class:`ReviewQueue`."""

    def __init__(self, settings: Settings, queue: ReviewQueue) -> None:
        self.settings = settings
        self.queue = queue
        self.prefix = settings.topic_prefix
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = kafka_consumer(self.settings.kafka, enable_auto_commit=False, auto_offset_reset="earliest",
                                  max_partition_fetch_bytes=MAX_FETCH_BYTES)
        await consumer.start()
        parts: list[TopicPartition] = []
        for _ in range(METADATA_TRIES):
            parts = [TopicPartition(t, p) for t in feed_topics(self.settings)
                     for p in sorted(consumer.partitions_for_topic(t) or ())]
            if {tp.topic for tp in parts} == set(feed_topics(self.settings)):
                break
            await consumer._client.force_metadata_update()  # as distillery.kafka.read_topic does
            await asyncio.sleep(0.1)
        consumer.assign(parts)
        stored = self.queue.offsets()
        for tp in parts:
            if (tp.topic, tp.partition) in stored:
                consumer.seek(tp, stored[(tp.topic, tp.partition)])
            else:
                await consumer.seek_to_beginning(tp)
        self.consumer = consumer

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None

    def _parse(self, rec: ConsumerRecord[bytes, bytes]) -> Record | None:
        kind = RECORD_BY_TOPIC.get(rec.topic[len(self.prefix):] if rec.topic.startswith(self.prefix) else "")
        if kind is None:
            return None
        try:
            return kind.model_validate_json(rec.value or b"")
        except pydantic.ValidationError as exc:
            log.warning("review queue: skipped %s[%d]@%d, not a %s: %s", rec.topic, rec.partition, rec.offset,
                        kind.__name__, str(exc)[:200])
            return None

    async def poll(self, timeout_ms: int = 500) -> int:
        """Read one batch into the queue; the number of records read."""
        assert self.consumer is not None, "call start() first"
        batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=2000)
        records: list[Record] = []
        offsets: dict[tuple[str, int], int] = {}
        for tp, recs in batch.items():
            if recs:
                offsets[(tp.topic, tp.partition)] = recs[-1].offset + 1
        # across topics in the order they were written: a drift alarm before the answers that follow it
        ordered = sorted((r for recs in batch.values() for r in recs),
                         key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
        for rec in ordered:
            parsed = self._parse(rec)
            if parsed is not None:
                records.append(parsed)
        n = len(ordered)
        if offsets:
            await asyncio.to_thread(self.queue.ingest, records, offsets)
        return n

    async def catch_up(self, timeout_s: float = 30.0) -> None:
        """Read until every partition's end as it was when called (the CLI, before each command)."""
        assert self.consumer is not None, "call start() first"
        assignment = self.consumer.assignment()
        ends = await self.consumer.end_offsets(list(assignment))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            behind = [tp for tp, end in ends.items() if await self.consumer.position(tp) < end]
            if not behind:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"the review queue could not catch up with Kafka in {timeout_s:.0f} s")
            await self.poll(timeout_ms=200)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the topics until ``stop`` is set (the monitors' web app runs this)."""
        await self.start()
        try:
            while not stop.is_set():
                await self.poll()
        finally:
            await self.stop()
