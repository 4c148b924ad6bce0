"""The monitors worker: drift detectors on the live streams, drift events out.

One consumer group (``{prefix}distillery-monitors``) reads ``inference.events``
(raw bytes, validated here the way streams validates them; invalid ones are
only counted, since streams dead-letters them), ``distill.labeled``,
``distill.review``, ``distill.deadletter``, ``train.jobs``, ``adapters.published``
and ``adapters.control``. All are keyed by
task and have the same partition count, and the range assignor gives each
member the same partition numbers of every topic, so one worker sees all of a
task's streams. It keeps one :class:`~monitors.task_monitor.TaskMonitor` per
task it owns (:class:`~monitors.handlers.Handlers`) and sends each alarm to
``drift.events``, keyed by task. A message that cannot be read, on any topic,
is logged with its topic, partition and offset, counted, and skipped.

Why aiokafka and not Faust: a restart must neither forget nor re-alarm, so
the offsets committed to Kafka must never run ahead of the detector state on
disk. Here the loop checkpoints every task (:mod:`monitors.checkpoint`,
including the last offset each monitor saw) and only then commits what it
processed, every ``checkpoint_interval_s``, on a rebalance and at shutdown;
records redelivered after a crash are at or below a checkpoint's offsets and
are skipped. Faust acknowledges and commits on its own schedule, which can
pass the checkpoint. Consumer lag comes from the consumer's own highwater
marks and positions.

What each record does to the task monitors, and how an adapter's training data
becomes their reference, is :mod:`monitors.handlers`; this module is the loop.

The review queue (:mod:`monitors.review`) runs beside: its feeder follows the
review topics into ``DATA_DIR/review/<prefix>queue.sqlite`` and the web app
serves the review page over it; decisions go to ``distill.reviewed``.

``ops.counters`` (every streams worker's latest counter snapshot, compacted)
is read from the beginning by a separate group-less consumer and feeds the
teacher-call and spend metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from distillery.events import ReviewDecision
from distillery.health import Readiness, judge
from distillery.kafka import consumer as kafka_consumer
from distillery.kafka import ensure_topics, make_producer, send_record
from distillery.runner import run_until_signal
from distillery.settings import Settings
from distillery.webguard import Guard
from monitors.handlers import Handlers
from monitors.review.feed import QueueFeeder
from monitors.review.queue import ReviewQueue
from monitors.review.service import ReviewService
from monitors.web import Served, serve

log = logging.getLogger("distillery.monitors")

MAX_FETCH_BYTES = 8 * 1024 * 1024
"""Above the 1 MiB event limit, so an oversized event is read and counted, not stuck."""


def group_id(settings: Settings) -> str:
    """The monitors' consumer group: every monitors process of a deployment shares it."""
    return f"{settings.topic_prefix}distillery-monitors"


def partition_of(task: str, partitions: int) -> int:
    """The partition the default (murmur2) partitioner gives a task's records."""
    return (murmur2(task.encode()) & 0x7FFFFFFF) % partitions


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: MonitorsWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.worker.on_assigned(assigned)


class MonitorsWorker(Handlers):
    """One monitors process: the consumer loop, checkpoints and commits, metrics and ops page, around the handlers."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        topics = settings.topics
        self.inputs = [topics.inference, topics.labeled, topics.review, topics.deadletter, topics.train_jobs,
                       topics.published, topics.control]
        self.processed: dict[TopicPartition, int] = {}
        self.lock = asyncio.Lock()
        self.generation = 0
        self.served: Served | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self._producer: Any = None
        self._last_checkpoint = time.monotonic()
        self.joined = False
        self.unpublished: str | None = None
        """Set when a drift event could not be published: no checkpoint may be taken after it."""

    # ------------------------------------------------------- checkpoints
    async def checkpoint(self, tps: set[TopicPartition] | None = None) -> None:
        """Save every changed task, then commit what was processed (never the other way round).

        Nothing is saved or committed once a drift event could not be published: the
        detectors that fired would be restored as having fired, and the alarm would
        never go out. The worker stops; after a restart the last checkpoint and the
        redelivered records raise it again.
        """
        if self.unpublished is not None:
            log.error("not checkpointing: the drift event of %s was not published; it is raised again "
                      "from the last checkpoint after a restart", self.unpublished)
            return
        for name in sorted(self.dirty):
            if name in self.monitors:
                self.checkpoints.save(self.monitors[name], self.ops.tasks[name])
        self.dirty.clear()
        self._last_checkpoint = time.monotonic()
        offsets = {tp: off for tp, off in self.processed.items() if tps is None or tp in tps}
        if offsets and self.consumer is not None:
            try:
                await self.consumer.commit(offsets)
            except KafkaError as exc:
                # the checkpoint holds the offsets: what is redelivered is skipped, nothing is lost
                log.warning("offset commit failed (%s); redelivered records will be skipped", exc)

    def _refetch(self, batch: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        """A batch a rebalance overtook is dropped: read its records again, none lost.

        Records fetched before the rebalance come back from the committed offsets;
        but ``getmany`` may also have fetched records *after* it, from the new
        assignment, which advanced the consumer's position past them. Seeking each
        still-assigned partition back to the batch's first record reads them again
        (records at or below a task's checkpoint offsets are skipped, so a record
        seen twice counts once). Before this, such records were lost under load.
        """
        if self.consumer is None:
            return
        assigned = self.consumer.assignment()
        for tp, records in batch.items():
            if records and tp in assigned:
                self.consumer.seek(tp, records[0].offset)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.lock:
            self.generation += 1
            await self.checkpoint(revoked)
            numbers = {tp.partition for tp in revoked}
            gone = {(tp.topic, tp.partition) for tp in revoked}
            n = self.settings.kafka.partitions
            for name in [t for t, m in self.monitors.items()
                         if partition_of(t, n) in numbers or gone & m.offsets.keys()]:
                del self.monitors[name]
                del self.ops.tasks[name]
            for tp in revoked:
                self.processed.pop(tp, None)
                self.ops.lag.pop((tp.topic, tp.partition), None)

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.joined = True
        async with self.lock:
            numbers = {tp.partition for tp in assigned if tp.topic == self.settings.topics.inference}
            for name in self.settings.tasks:
                if partition_of(name, self.settings.kafka.partitions) in numbers:
                    self.task(name)
            log.info("monitoring %s", ", ".join(sorted(self.monitors)) or "no declared task (partitions: "
                     f"{sorted(numbers)})")

    async def readiness(self) -> Readiness:
        """``/readyz``: joined the group and at most ``[http] ready_max_lag`` behind its partitions."""
        assigned = self.consumer.assignment() if self.consumer is not None else set()
        behind = [self.ops.lag.get((tp.topic, tp.partition)) for tp in assigned]
        lag = None if any(n is None for n in behind) else sum(n for n in behind if n is not None)
        return judge(joined=self.joined, partitions=len(assigned), lag=lag,
                     max_lag=self.settings.http.ready_max_lag)

    # --------------------------------------------------------------- loop
    async def _process(self, batch: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        drift_topic = self.settings.topics.drift
        for tp, records in batch.items():
            for rec in records:
                for alarm in await self.handle(rec):
                    try:
                        await self._producer.send_and_wait(drift_topic, alarm.to_json(), key=alarm.key())
                    except Exception as exc:
                        # the detectors have fired: saving them now would lose the alarm for good
                        self.unpublished = f"{alarm.task} {alarm.signal} ({type(exc).__name__}: {exc})"
                        raise
                    self.ops.drift_published += 1
                    log.warning("drift on %s: %s %s -> %s (%s, %s)", alarm.task, alarm.signal,
                                alarm.estimate_before, alarm.estimate_after, alarm.severity, alarm.detector)
                self.processed[tp] = rec.offset + 1
        await self.load_references()
        for name in self.dirty:
            if name in self.monitors:
                self._refresh(name)

    def _update_lag(self) -> None:
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                done = self.processed.get(tp)
                self.ops.lag[(tp.topic, tp.partition)] = max(0, high - done) if done is not None else high

    async def _read_counters(self, stop: asyncio.Event) -> None:
        topic = self.settings.topics.counters
        consumer = kafka_consumer(self.settings.kafka, enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            parts = None
            while not parts and not stop.is_set():
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await asyncio.sleep(1.0)
            tps = [TopicPartition(topic, p) for p in sorted(parts or ())]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for rec in records:
                        self.on_counters(rec)
        finally:
            await consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; checkpoint and commit on the way out."""
        conf = self.settings.monitors
        await ensure_topics(self.settings)
        queue = ReviewQueue.for_settings(self.settings)

        async def send_decision(decision: ReviewDecision) -> None:
            await send_record(self._producer, self.settings, decision)

        review = ReviewService(self.settings, queue, send_decision)
        guard = Guard.from_settings(self.settings, "ops page", browser=True)
        self.served = await serve(self.ops, host=conf.host, http_port=conf.http_port, web_port=conf.web_port,
                                  guard=guard, ready=self.readiness, review=review)
        self._producer = make_producer(self.settings)
        self.consumer = kafka_consumer(
            self.settings.kafka,
            group_id=group_id(self.settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(RangePartitionAssignor,),
            max_partition_fetch_bytes=MAX_FETCH_BYTES,
            fetch_max_bytes=4 * MAX_FETCH_BYTES,
        )
        counters: asyncio.Task[None] | None = None
        feeder: asyncio.Task[None] | None = None
        try:
            await self._producer.start()
            self.consumer.subscribe(self.inputs, listener=_Rebalance(self))
            await self.consumer.start()
            counters = asyncio.create_task(self._read_counters(stop))
            feeder = asyncio.create_task(QueueFeeder(self.settings, queue).run(stop))
            log.info("monitors worker started (group %s)", group_id(self.settings))
            while not stop.is_set():
                generation = self.generation
                batch = await self.consumer.getmany(timeout_ms=500, max_records=2000)
                async with self.lock:
                    if generation == self.generation:
                        await self._process(batch)
                    else:
                        self._refetch(batch)
                    self._update_lag()
                    if time.monotonic() - self._last_checkpoint >= conf.checkpoint_interval_s:
                        await self.checkpoint()
                if counters.done() and counters.exception() is not None:
                    raise counters.exception()  # type: ignore[misc]
                if feeder.done() and feeder.exception() is not None:
                    raise feeder.exception()  # type: ignore[misc]
        finally:
            async with self.lock:
                if self.consumer is not None and self.consumer.assignment():
                    await self.checkpoint()
                else:
                    await self.checkpoint(set())
            for task in (counters, feeder):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            await self.consumer.stop()
            await self._producer.stop()
            await self.served.close()
            log.info("monitors worker stopped; checkpoints in %s", self.checkpoints.folder)


def run_worker(settings: Settings) -> None:
    """Run one monitors worker in the foreground until SIGINT or SIGTERM."""
    run_until_signal(lambda stop: MonitorsWorker(settings).run(stop))  # built inside the loop it runs on
