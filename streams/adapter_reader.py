"""Read one task's adapter book from Kafka, whole, before deleting any of its snapshots.

The adapter topics (``adapters.published``, ``adapters.rejected``,
``adapters.control``) are small, keyed by task: the task's partition of each is
read from its beginning to the end offset found when the read began, and only
the task's records are folded, in the order they were produced, into an
:class:`~distillery.adapter_book.AdapterBook`. A read that cannot reach those
ends within ``timeout_s`` raises :class:`~distillery.errors.BrokerUnavailableError`:
retention then deletes nothing, since a book missing a pin could delete a
snapshot still in use.
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from distillery.adapter_book import AdapterBook, AdapterRecord
from distillery.adapter_history import adapter_models, fold
from distillery.errors import BrokerUnavailableError
from distillery.kafka import consumer, topic_partitions
from distillery.settings import Settings
from streams.restore_kafka import partition_for


class AdapterReader:
    """One consumer without a group, reused for every read of this worker."""

    def __init__(self, settings: Settings, *, timeout_s: float = 60.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.models: dict[str, type[AdapterRecord]] = adapter_models(settings.topics)
        self._consumer: AIOKafkaConsumer | None = None

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def book(self, task: str) -> AdapterBook:
        """The task's adapter book as of now (every record up to the topics' current ends)."""
        if self._consumer is None:
            reader = consumer(self.settings.kafka, enable_auto_commit=False, auto_offset_reset="earliest")
            await reader.start()
            self._consumer = reader
        reader = self._consumer
        try:
            records = await self._read(reader, task, time.monotonic() + self.timeout_s)
        finally:
            reader.unsubscribe()  # nothing is fetched in the background until the next read
        return fold(AdapterBook(), records, self.models)

    async def _read(self, reader: AIOKafkaConsumer, task: str,
                    deadline: float) -> list[ConsumerRecord[bytes, bytes]]:
        parts: list[TopicPartition] = []
        for topic in self.models:  # every partition looked up before any is assigned (which narrows the metadata)
            found = await topic_partitions(reader, topic, timeout_s=max(0.0, deadline - time.monotonic()))
            if not found:
                raise BrokerUnavailableError(f"topic {topic!r} has no partitions in the cluster's metadata; "
                                             "create it (`distillery kafka topics`)")
            parts.append(TopicPartition(topic, partition_for(task, len(found))))
        reader.assign(parts)
        ends = await reader.end_offsets(parts)
        await reader.seek_to_beginning(*parts)
        key = task.encode()
        out: list[ConsumerRecord[bytes, bytes]] = []
        for tp in parts:
            while await reader.position(tp) < ends[tp]:
                if time.monotonic() > deadline:
                    raise BrokerUnavailableError(f"reading {tp.topic}[{tp.partition}] did not reach offset "
                                                 f"{ends[tp]} within {self.timeout_s:.0f} s; no snapshot is deleted "
                                                 "this time")
                got = await reader.getmany(tp, timeout_ms=500, max_records=5000)
                out.extend(r for r in got.get(tp, []) if r.key == key and r.offset < ends[tp])
        return out
