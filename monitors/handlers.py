"""What each consumed record does to the task monitors: the monitors worker's handlers, no Kafka client.

:class:`Handlers` owns one :class:`~monitors.task_monitor.TaskMonitor` per task
(restored from its checkpoint the first time the task is seen) and the ops
figures beside them. :meth:`Handlers.handle` feeds one record of any input topic
to its task's monitor and returns the alarms it raised; a message that cannot be
read is logged with its topic, partition and offset, counted, and skipped. A
record at or below the offset a task's restored state already holds is skipped
too, so a record redelivered after a crash counts once.

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

The consumer loop, the checkpoints and the commits are the worker's (:mod:`monitors.app`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pydantic
from aiokafka import ConsumerRecord

from distillery import topics as names
from distillery.answers import category_of
from distillery.artifacts import fetch
from distillery.errors import DistilleryError
from distillery.events import (
    AdapterControl,
    AdapterPublished,
    DeadLetter,
    DriftEvent,
    InferenceEvent,
    LabeledExample,
    ReviewItem,
    TrainJob,
)
from distillery.settings import Settings
from distillery.validation import parse_inference
from monitors.alarm import Position
from monitors.checkpoint import CheckpointStore
from monitors.metrics import Ops, TaskStats
from monitors.reference import Reference, reference_from_rows
from monitors.signals import CategoryMix, NewCategory
from monitors.task_monitor import TEACHER_SOURCES, TaskMonitor, student_agreed
from streams.redact import Redactor

log = logging.getLogger("distillery.monitors")

_PARSED: dict[str, type[LabeledExample] | type[ReviewItem] | type[DeadLetter]] = {
    names.LABELED: LabeledExample, names.REVIEW: ReviewItem, names.DEADLETTER: DeadLetter,
}

HistoryRecord = TrainJob | AdapterPublished | AdapterControl
_HISTORY: dict[str, type[HistoryRecord]] = {
    names.TRAIN_JOBS: TrainJob, names.PUBLISHED: AdapterPublished, names.CONTROL: AdapterControl,
}
"""What a task's monitor folds to know which adapter serves and what it was trained on."""


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


class Handlers:
    """The task monitors of one monitors process and what each record does to them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        conf = settings.monitors
        topics = settings.topics
        self.base = {topics.name(b): b for b in (names.INFERENCE, *_HISTORY, *_PARSED)}
        self.pending_references: set[str] = set()
        self.ops = Ops()
        self.monitors: dict[str, TaskMonitor] = {}
        self.checkpoints = CheckpointStore(settings.data_dir / "monitors", prefix=settings.topic_prefix,
                                           cooldown_events=conf.alarm_cooldown_events,
                                           bucket=conf.chart_bucket_events, points=conf.chart_points)
        self.dirty: set[str] = set()

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
        if base == names.INFERENCE:
            parsed = parse_inference(rec.value, tasks=self.settings.tasks.keys(),
                                     max_bytes=self.settings.max_event_bytes)
            if parsed.event is None:
                self.ops.invalid[parsed.reason] += 1
                log.debug("invalid event at %s[%d]@%d (streams dead-letters it): %s", rec.topic, rec.partition,
                          rec.offset, "; ".join(parsed.problems)[:200])
                return []
            return self._observe(parsed.event, pos)
        if base in _HISTORY:
            self._on_history(rec, pos, _HISTORY[base])
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
            if record.source in TEACHER_SOURCES:
                stats.on_teacher(agree=student_agreed(record), t_ms=record.ts_ms, level=monitor.agreement.estimate,
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

    def _on_history(self, rec: ConsumerRecord[bytes, bytes], pos: Position, cls: type[HistoryRecord]) -> None:
        """A train job or an adapter record, folded into its task's monitor once (a redelivery is skipped)."""
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
        if isinstance(record, TrainJob):
            # the reference changes when the adapter trained on it serves, not when training starts
            monitor.note_train_job(record)
            if monitor.reference_adapter is None and monitor.book.chosen(record.task) is not None:
                self.pending_references.add(record.task)  # an adapter whose snapshot could not be matched yet
        elif monitor.apply_adapter_record(record) is not None:
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

    def on_counters(self, rec: ConsumerRecord[bytes, bytes]) -> None:
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
