"""Read a task's partition of the topics its store is rebuilt from (:mod:`streams.restore`).

One consumer without a group, assigned by hand, reused for every restore of the
worker. A task's records sit on the partition its key (the task name) hashes
to, the producers' default partitioner: that partition of each topic is read
from the store's last position to the end offset found when the read began, and
only records keyed by the task are kept (tasks share partitions). Progress is
logged every ``PROGRESS_EVERY`` records.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from distillery.errors import BrokerUnavailableError
from distillery.kafka import consumer
from distillery.settings import Settings
from streams.restore import KINDS, Fetched
from streams.source import Source

log = logging.getLogger("distillery.streams")

PROGRESS_EVERY = 10_000
METADATA_WAIT_S = 30.0

_partition_of = DefaultPartitioner()


def partition_for(task: str, partitions: int) -> int:
    """The partition a record keyed by ``task`` goes to among ``partitions`` (Kafka's murmur2 default).

    >>> partition_for("transactions", 1), partition_for("transactions", 3) == partition_for("transactions", 3)
    (0, True)
    """
    every = list(range(partitions))
    return int(_partition_of(task.encode(), every, every))


class TopicReader:
    """Reads the restore topics' partition of a task, to the end."""

    def __init__(self, settings: Settings, *, max_fetch_bytes: int = 8 * 1024 * 1024) -> None:
        self.settings = settings
        topics = settings.topics
        self.names = {"pending": topics.pending, "labeled": topics.labeled, "review": topics.review, "gold": topics.gold,
                      "reviewed": topics.reviewed, "train_jobs": topics.train_jobs}
        self._consumer: AIOKafkaConsumer | None = None
        self._max_fetch_bytes = max_fetch_bytes

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            reader = consumer(self.settings.kafka, enable_auto_commit=False, auto_offset_reset="earliest",
                              max_partition_fetch_bytes=self._max_fetch_bytes,
                              fetch_max_bytes=max(self._max_fetch_bytes, 50 * 1024 * 1024))
            await reader.start()
            self._consumer = reader
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _partition(self, reader: AIOKafkaConsumer, topic: str, task: str) -> TopicPartition:
        deadline = time.monotonic() + METADATA_WAIT_S
        while True:
            found = reader.partitions_for_topic(topic)
            if found:
                return TopicPartition(topic, partition_for(task, len(found)))
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(f"topic {topic!r} has no partitions in the cluster's metadata after "
                                             f"{METADATA_WAIT_S:.0f} s; create it (`distillery kafka topics`)")
            await reader._client.force_metadata_update()  # as read_topic does: no subscription, all topics
            await asyncio.sleep(0.2)

    async def __call__(self, task: str, since: dict[tuple[str, int], int]) -> Fetched:
        """The task's records after ``since`` (per ``(topic, partition)``), up to each end."""
        reader = await self._started()
        parts = {kind: await self._partition(reader, name, task) for kind, name in self.names.items()}
        inference = await self._partition(reader, self.settings.topics.inference, task)
        ends = await reader.end_offsets([*parts.values(), inference])
        starts = await reader.beginning_offsets(list(parts.values()))
        out = Fetched(inference_mark=(inference.partition, ends[inference] - 1))
        key = task.encode()
        total = sum(max(0, ends[tp] - max(starts[tp], since.get((tp.topic, tp.partition), 0)))
                    for tp in parts.values())
        if total:
            log.info("task %s: restoring its store from Kafka: up to %d records to read", task, total)
        read = 0
        for kind in KINDS:
            tp = parts[kind]
            start = max(starts[tp], since.get((tp.topic, tp.partition), 0))
            out.ends[(tp.topic, tp.partition)] = max(start, ends[tp])
            if start >= ends[tp]:
                continue
            reader.assign([tp])
            reader.seek(tp, start)
            position = start
            while position < ends[tp]:
                got = await reader.getmany(tp, timeout_ms=1000, max_records=5000)
                for rec in got.get(tp, []):
                    position = rec.offset + 1
                    if rec.offset >= ends[tp]:
                        break
                    read += 1
                    if read % PROGRESS_EVERY == 0:
                        log.info("task %s: restore read %d/%d records", task, read, total)
                    if rec.key == key and rec.value is not None:
                        out.records.append((kind, rec.value, Source(rec.topic, rec.partition, rec.offset)))
                if not got:
                    position = max(position, await reader.position(tp))
        reader.unsubscribe()  # nothing is fetched in the background until the next restore
        return out
