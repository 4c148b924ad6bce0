"""The monitors worker: drift detectors on the live streams, drift events out.

One consumer group (``{prefix}distillery-monitors``) reads ``inference.events``
(raw bytes, validated here the way streams validates them; invalid ones are
only counted, since streams dead-letters them), ``distill.labeled``,
``distill.review``, ``distill.deadletter``, ``train.jobs``, ``adapters.published``
and ``adapters.control``. All are keyed by
task and have the same partition count, and the range assignor gives each
member the same partition numbers of every topic, so one worker sees all of a
task's streams. It keeps one :class:`~monitors.task_monitor.TaskMonitor` per
task it owns and sends each alarm to ``drift.events``, keyed by task. A
message that cannot be read, on any topic, is logged with its topic,
partition and offset, counted, and skipped.

Why aiokafka and not Faust: a restart must neither forget nor re-alarm, so
the offsets committed to Kafka must never run ahead of the detector state on
disk. Here the loop checkpoints every task (:mod:`monitors.checkpoint`,
including the last offset each monitor saw) and only then commits what it
processed, every ``checkpoint_interval_s``, on a rebalance and at shutdown;
records redelivered after a crash are at or below a checkpoint's offsets and
are skipped. Faust acknowledges and commits on its own schedule, which can
pass the checkpoint. Consumer lag comes from the consumer's own highwater
marks and positions.

References: the adapter records are folded by each task's monitor with the
contract's adapter book (the rules every serving subscriber follows), and
when the adapter that serves changes (a publish, a pin, a rollback; or the
history replayed at a first start), the snapshot it was trained on and its
(Parquet in the artifact store, checked against the SHA-256 its ``TrainJob``
named) becomes the reference of the unseen-token signal, and the answer mix of
the traffic it was trained on (or, where this worker did not see that
traffic, the snapshot's labels) that of the category-mix and new-category
signals (:mod:`monitors.reference`). Loaded once
per processed batch, so replaying a long history reads only the adapter that
serves at its end. The snapshot, not the task's DuckDB file, because the file
is local to the streams worker that owns the task while the artifact store is
shared, and the snapshot is exactly what the serving student learned. The
reference is part of the checkpoint. New words named in a drift event are
redacted with the task's own PII rules (:mod:`streams.redact`) first.

The review queue (:mod:`monitors.review`) runs beside: its feeder follows the
review topics into ``DATA_DIR/review/<prefix>queue.sqlite`` and the web app
serves the review page over it; decisions go to ``distill.reviewed``.

``ops.counters`` (every streams worker's latest counter snapshot, compacted)
is read from the beginning by a separate group-less consumer and feeds the
teacher-call and spend metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pydantic
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from distillery.answers import category_of, same_answer
from distillery.artifacts import fetch
from distillery.errors import DistilleryError
from distillery.events import (
    AdapterControl,
    AdapterPublished,
    DeadLetter,
    DriftEvent,
    InferenceEvent,
    LabeledExample,
    ReviewDecision,
    ReviewItem,
    TrainJob,
)
from distillery.health import Readiness, judge
from distillery.kafka import consumer as kafka_consumer
from distillery.kafka import ensure_topics, make_producer, send_record
from distillery.settings import Settings
from distillery.validation import parse_inference
from distillery.webguard import Guard
from monitors.alarm import Position
from monitors.checkpoint import CheckpointStore
from monitors.metrics import Ops, TaskStats
from monitors.reference import Reference, reference_from_rows
from monitors.review.feed import QueueFeeder
from monitors.review.queue import ReviewQueue
from monitors.review.service import ReviewService
from monitors.signals import CategoryMix, NewCategory
from monitors.task_monitor import _SAMPLED_SOURCES, _TEACHER_SOURCES, TaskMonitor
from monitors.web import Served, serve
from streams.redact import Redactor

log = logging.getLogger("distillery.monitors")

MAX_FETCH_BYTES = 8 * 1024 * 1024
"""Above the 1 MiB event limit, so an oversized event is read and counted, not stuck."""

_PARSED: dict[str, type[LabeledExample] | type[ReviewItem] | type[DeadLetter]] = {
    "distill.labeled": LabeledExample, "distill.review": ReviewItem, "distill.deadletter": DeadLetter,
}


def describe(exc: pydantic.ValidationError, limit: int = 3) -> str:
    """A validation failure on one line: ``field: why`` for the first few problems.

    >>> try:
    ...     DriftEvent.model_validate_json(b'{"task": "t"}')
    ... except pydantic.ValidationError as exc:
    ...     print(describe(exc))
    signal: Field required; detector: Field required
    """
    problems = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()]
    more = f" (+{len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


def group_id(settings: Settings) -> str:
    """The monitors' consumer group: every monitors process of a deployment shares it."""
    return f"{settings.topic_prefix}distillery-monitors"


def partition_of(task: str, partitions: int) -> int:
    """The partition the default (murmur2) partitioner gives a task's records."""
    return (murmur2(task.encode()) & 0x7FFFFFFF) % partitions


def new_monitor(task: str, settings: Settings) -> TaskMonitor:
    """A task's monitor as this deployment configures it (``[monitors]`` and ``[monitors.drift]``)."""
    d = settings.monitors.drift
    return TaskMonitor(
        task,
        cooldown_events=settings.monitors.alarm_cooldown_events,
        unseen_warmup=d.unseen_warmup,
        category_mix=CategoryMix(warmup_min=d.warmup_min, warmup_per_category=d.warmup_per_category,
                                 warmup_max=d.warmup_max, window_s=d.window_s, min_window=d.min_window),
        new_category=NewCategory(floor=d.new_category_floor, min_share=d.new_category_min_share,
                                 window_s=d.window_s, min_window=d.min_window),
    )


def read_reference(adapter: AdapterPublished, job: TrainJob | None, workdir: Path) -> Reference:
    """The reference of an adapter: its training snapshot, fetched and (its train job known) checksum-checked.

    The snapshot is the adapter's own ``snapshot_uri``, else its train job's;
    its SHA-256 is checked when the train job that named it is known.
    """
    uri = adapter.snapshot_uri or (job.snapshot_uri if job else None)
    if not uri:
        raise ValueError(f"adapter {adapter.adapter_id} names no snapshot and its train job was not seen")
    sha = job.snapshot_sha256 if job is not None and job.snapshot_uri == uri else None
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = fetch(uri, Path(tmp) / "snapshot.parquet", expect_sha256=sha)
        names = pq.read_schema(path).names
        snapshot = pq.read_table(path, columns=[c for c in ("input", "label", "category", "split")
                                                if c in names]).to_pylist()
    return reference_from_rows(f"adapter {adapter.adapter_id}", snapshot)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: MonitorsWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.worker.on_assigned(assigned)


class MonitorsWorker:
    """One monitors process: consumer, detectors, checkpoints, metrics and ops page."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        conf = settings.monitors
        topics = settings.topics
        self.inputs = [topics.inference, topics.labeled, topics.review, topics.deadletter, topics.train_jobs,
                       topics.published, topics.control]
        self.base = {topics.name(b): b for b in ("inference.events", "train.jobs", "adapters.published",
                                                  "adapters.control", *_PARSED)}
        self.pending_references: set[str] = set()
        self.ops = Ops()
        self.monitors: dict[str, TaskMonitor] = {}
        self.checkpoints = CheckpointStore(settings.data_dir / "monitors", prefix=settings.topic_prefix,
                                           cooldown_events=conf.alarm_cooldown_events,
                                           bucket=conf.chart_bucket_events, points=conf.chart_points)
        self.dirty: set[str] = set()
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

    # --------------------------------------------------------------- tasks
    def task(self, name: str) -> tuple[TaskMonitor, TaskStats]:
        """The task's monitor and stats, restored from its checkpoint the first time."""
        if name not in self.monitors:
            conf = self.settings.monitors
            restored = self.checkpoints.load(name)
            if restored is not None:
                monitor, stats = restored.monitor, restored.stats
                log.info("task %s: restored detectors from the checkpoint of %s", name,
                         time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(restored.saved_ms / 1000)))
            else:
                monitor = new_monitor(name, self.settings)
                stats = TaskStats(name, bucket=conf.chart_bucket_events, points=conf.chart_points)
            spec = self.settings.tasks.get(name)
            if spec is not None:
                redactor = Redactor.for_task(spec)
                monitor.redact = lambda text: redactor.redact(text).text
            self.monitors[name] = monitor
            self.ops.tasks[name] = stats
            self._refresh(name)
        return self.monitors[name], self.ops.tasks[name]

    def _refresh(self, name: str) -> None:
        monitor = self.monitors[name]
        self.ops.tasks[name].refresh(monitor.levels(), {n: s.events_seen for n, s in monitor.signals.items()},
                                     len(monitor.unseen_tokens.vocabulary), references=monitor.references())

    # ------------------------------------------------------------ records
    async def handle(self, rec: ConsumerRecord[bytes, bytes]) -> list[DriftEvent]:
        """Feed one consumed message to its task's monitor; the alarms it raised (none if unreadable)."""
        pos = Position(rec.topic, rec.partition, rec.offset)
        base = self.base.get(rec.topic)
        if base == "inference.events":
            parsed = parse_inference(rec.value, tasks=self.settings.tasks.keys(),
                                     max_bytes=self.settings.max_event_bytes)
            if parsed.event is None:
                self.ops.invalid[parsed.reason] += 1
                log.debug("invalid event at %s[%d]@%d (streams dead-letters it): %s", rec.topic, rec.partition,
                          rec.offset, "; ".join(parsed.problems)[:200])
                return []
            return self._observe(parsed.event, pos)
        if base == "train.jobs":
            await self._on_train_job(rec, pos)
            return []
        if base in ("adapters.published", "adapters.control"):
            self._on_adapter_record(rec, pos, AdapterPublished if base == "adapters.published" else AdapterControl)
            return []
        cls = _PARSED[base] if base in _PARSED else None
        if cls is None:
            return []
        try:
            record = cls.model_validate_json(rec.value or b"")
        except pydantic.ValidationError as exc:
            return self._malformed(rec, describe(exc))
        if record.task not in self.settings.tasks:
            if isinstance(record, DeadLetter):
                self.ops.deadlettered_unknown += 1
                return []
            return self._malformed(rec, f"task {record.task!r} is not declared in the task config")
        return self._observe(record, pos)

    def _malformed(self, rec: ConsumerRecord[bytes, bytes], why: str) -> list[DriftEvent]:
        self.ops.malformed[rec.topic] += 1
        if rec.value is None:
            why = "empty message (tombstone)"
        log.warning("ignored an unreadable or foreign message at %s[%d]@%d: %s", rec.topic, rec.partition,
                    rec.offset, why[:300])
        return []

    def _observe(self, record: InferenceEvent | LabeledExample | ReviewItem | DeadLetter,
                 pos: Position) -> list[DriftEvent]:
        monitor, stats = self.task(record.task)
        if monitor.offsets.get((pos.topic, pos.partition), -1) >= pos.offset:
            return []  # redelivered after a restart: already in the restored state
        alarms = monitor.observe(record, pos)
        now = int(time.time() * 1000)
        if isinstance(record, InferenceEvent):
            stats.on_inference(category_of(record.output), t_ms=record.ts_ms() or now,
                               distance=monitor.category_mix.estimate)
        elif isinstance(record, LabeledExample):
            if record.source in _TEACHER_SOURCES:
                agree = None
                if record.source in _SAMPLED_SOURCES and record.student_output is not None:
                    agree = same_answer(record.student_output, record.label)
                stats.on_teacher(agree=agree, t_ms=record.ts_ms, level=monitor.agreement.estimate,
                                 cost_usd=record.cost_usd)
            else:
                stats.counts[f"labeled_{record.source}"] += 1
        elif isinstance(record, ReviewItem):
            stats.on_teacher(agree=None, t_ms=record.ts_ms, level=None, rejected=True, cost_usd=record.cost_usd)
        else:
            stats.on_dead_letter()
        for alarm in alarms:
            stats.on_alarm(alarm)
        self.dirty.add(record.task)
        return alarms

    async def _on_train_job(self, rec: ConsumerRecord[bytes, bytes], pos: Position) -> None:
        try:
            job = TrainJob.model_validate_json(rec.value or b"")
        except pydantic.ValidationError as exc:
            self._malformed(rec, describe(exc))
            return
        if job.task not in self.settings.tasks:
            self._malformed(rec, f"task {job.task!r} is not declared in the task config")
            return
        monitor, _ = self.task(job.task)
        key = (pos.topic, pos.partition)
        if monitor.offsets.get(key, -1) >= pos.offset:
            return
        # the reference changes when the adapter trained on it serves, not when training starts
        monitor.note_train_job(job)
        if monitor.reference_adapter is None and monitor.book.chosen(job.task) is not None:
            self.pending_references.add(job.task)  # an adapter whose snapshot could not be matched yet
        monitor.offsets[key] = pos.offset
        self.dirty.add(job.task)

    def _on_adapter_record(self, rec: ConsumerRecord[bytes, bytes], pos: Position,
                           cls: type[AdapterPublished] | type[AdapterControl]) -> None:
        try:
            record = cls.model_validate_json(rec.value or b"")
        except pydantic.ValidationError as exc:
            self._malformed(rec, describe(exc))
            return
        if record.task not in self.settings.tasks:
            self._malformed(rec, f"task {record.task!r} is not declared in the task config")
            return
        monitor, _ = self.task(record.task)
        key = (pos.topic, pos.partition)
        if monitor.offsets.get(key, -1) >= pos.offset:
            return
        if monitor.apply_adapter_record(record) is not None:
            self.pending_references.add(record.task)
        monitor.offsets[key] = pos.offset
        self.dirty.add(record.task)

    async def load_references(self) -> None:
        """Make the serving adapter's data the reference of every task whose serving adapter changed."""
        for name in sorted(self.pending_references):
            monitor = self.monitors.get(name)
            adapter = monitor.book.chosen(name) if monitor is not None else None
            if monitor is None or adapter is None or adapter.adapter_id == monitor.reference_adapter:
                continue
            try:
                ref = await asyncio.to_thread(read_reference, adapter, monitor.jobs.get(adapter.job_id),
                                              self.checkpoints.folder)
            except (DistilleryError, OSError, ValueError, KeyError) as exc:
                log.warning("task %s: keeping the %s reference, cannot read the data of adapter %s: %s", name,
                            monitor.category_mix.reference_source, adapter.adapter_id, exc)
                continue
            monitor.set_reference(ref, adapter_id=adapter.adapter_id)
            self.dirty.add(name)
            log.info("task %s: drift reference is now adapter %s (answer mix: %s; %d words)", name,
                     adapter.adapter_id, monitor.category_mix.reference_source, len(ref.vocabulary))
        self.pending_references.clear()

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
                        self._on_counters(rec)
        finally:
            await consumer.stop()

    def _on_counters(self, rec: ConsumerRecord[bytes, bytes]) -> None:
        key = rec.key.decode("utf-8", "replace") if rec.key else ""
        if rec.value is None:
            self.ops.on_counters(key, None)
            return
        try:
            snap = json.loads(rec.value)
            if not isinstance(snap, dict) or not isinstance(snap.get("counts"), dict):
                raise ValueError("expected an object with a 'counts' object")
            for task, counts in snap["counts"].items():
                if not isinstance(counts, dict) or not all(isinstance(v, int | float) for v in counts.values()):
                    raise ValueError(f"counts of {task!r} are not numbers by outcome")
        except ValueError as exc:
            self._malformed(rec, str(exc))
            return
        self.ops.on_counters(key, snap)

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
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await MonitorsWorker(settings).run(stop)

    asyncio.run(main())
