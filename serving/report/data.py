"""Gather a report's inputs: the task's DuckDB store, the adapter, drift, counter and review topics.

The store is only ever opened read-only, waiting out the streams worker's lock
(it lets go of the file every few seconds for readers). Topics are read from the beginning
without a consumer group, so a report never moves anyone's offsets. Kafka
records can also be handed in directly (:class:`TopicRecords`), which is how
tests and offline runs feed the pure computation.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic
from aiokafka import ConsumerRecord

from distillery.answers import same_answer
from distillery.counters import merge
from distillery.draws import is_student_audit
from distillery.events import AdapterPublished, AdapterRejected, DriftEvent, Record, ReviewDecision
from distillery.kafka import check_broker, read_topic
from distillery.settings import Settings
from serving.report.model import AnswerCheck, ReportInputs, StoreFacts, TokenAverage, WindowAgreement
from streams.store.db import TaskStore, store_path
from streams.store.reads import report_rows

log = logging.getLogger("distillery.report")

R = TypeVar("R", bound=Record)


def _usage(row: tuple[Any, ...] | None) -> TokenAverage | None:
    if not row or not row[0]:
        return None
    return TokenAverage(int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0))


def check_answers(rows: Iterable[tuple[str, str, str | None, str | None]],
                  audited: Callable[[str], bool] | None = None) -> AnswerCheck:
    """Tally (event id, student answer, ground truth, teacher label) rows; ground truth wins where both exist.

    ``audited(event_id)`` says which events fall in the task's uniform audit share
    (:func:`distillery.draws.is_student_audit`): those are tallied apart too.
    """
    n = correct = truth = n_audit = audit_correct = 0
    for event_id, output, gold, teacher in rows:
        known = gold if gold is not None else teacher
        if known is None:
            continue
        hit = same_answer(output, known)
        n += 1
        truth += gold is not None
        correct += hit
        if audited is not None and audited(event_id):
            n_audit += 1
            audit_correct += hit
    return AnswerCheck(n, correct, truth, n_audit, audit_correct)


def read_store(path: Path, teacher_model: str, audited: Callable[[str], bool] | None = None, *,
               memory_limit: str | None = None) -> StoreFacts:
    """Facts of one task's store; an empty :class:`StoreFacts` when the file does not exist yet.

    ``audited(event_id)``: whether a student answer fell in the task's uniform audit share;
    ``memory_limit``: DuckDB's, as ``[streams] store_memory_limit`` (the report may run in a replica).
    """
    if not path.exists():
        return StoreFacts()
    rows = report_rows(TaskStore(path, read_only=True, memory_limit=memory_limit), teacher_model)
    ev, spend = rows.events, rows.spend
    windows: dict[int, list[int]] = {}
    for window_id, label, student_output in rows.pairs:
        tally = windows.setdefault(int(window_id), [0, 0])
        tally[0] += 1
        tally[1] += same_answer(label, student_output)
    return StoreFacts(
        gold_by_category={str(c): int(n) for c, n in rows.gold_by_category},
        answered=check_answers(rows.answered, audited),
        events_seen=int(ev[0]), first_ms=ev[1], last_ms=ev[2],
        avg_input_chars=float(ev[3]) if ev[3] is not None else None,
        teacher_usage=_usage(rows.teacher_usage), student_usage=_usage(rows.student_usage),
        routed_student=int(ev[4]), routed_teacher=int(ev[5]),
        labeling_calls=int(spend[0]), labeling_usd=float(spend[1]),
        labeling_usage=_usage((spend[0], spend[2], spend[3])),
        gold_count=rows.gold_count,
        gold_added_ms=tuple(rows.gold_added_ms),
        agreement=tuple(WindowAgreement(w, n, a) for w, (n, a) in sorted(windows.items())),
    )


@dataclass(frozen=True)
class TopicRecords:
    """What the adapter, drift and counter topics hold, for every task."""

    published: tuple[AdapterPublished, ...] = ()
    rejected: tuple[AdapterRejected, ...] = ()
    drift: tuple[DriftEvent, ...] = ()
    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    reviewed: tuple[ReviewDecision, ...] = ()


def _parse(kind: type[R], records: Iterable[ConsumerRecord[bytes, bytes]]) -> tuple[R, ...]:
    out = []
    for r in records:
        try:
            out.append(kind.model_validate_json(r.value or b""))
        except pydantic.ValidationError as exc:
            log.warning("skipped a record on %s@%d that is not a %s: %s", r.topic, r.offset, kind.__name__,
                        str(exc)[:200])
    return tuple(out)


def latest_counters(records: Iterable[ConsumerRecord[bytes, bytes]]) -> dict[str, dict[str, float]]:
    """The latest snapshot of every worker (the topic is keyed by worker id), summed per task."""
    latest: dict[bytes, dict[str, Any]] = {}
    for r in sorted(records, key=lambda x: (x.partition, x.offset)):
        key = r.key or b""
        if r.value is None:
            latest.pop(key, None)  # a tombstone: the worker is gone
            continue
        try:
            latest[key] = json.loads(r.value)
        except json.JSONDecodeError:
            log.warning("skipped a counters record at offset %d that is not JSON", r.offset)
    return merge(list(latest.values()))


async def read_records(settings: Settings, *, timeout_s: float = 20.0, idle_s: float = 2.0) -> TopicRecords:
    """Read the adapter, drift and counter topics from the beginning (topics not created yet read empty)."""
    bootstrap = settings.kafka
    existing = set(await check_broker(bootstrap))
    t = settings.topics
    names = (t.published, t.rejected, t.drift, t.counters, t.reviewed)

    async def read(name: str) -> list[ConsumerRecord[bytes, bytes]]:
        return await read_topic(bootstrap, name, timeout_s=timeout_s, idle_s=idle_s) if name in existing else []

    published, rejected, drift, counters, reviewed = await asyncio.gather(*(read(n) for n in names))
    return TopicRecords(_parse(AdapterPublished, published), _parse(AdapterRejected, rejected),
                        _parse(DriftEvent, drift), latest_counters(counters), _parse(ReviewDecision, reviewed))


def review_backlog(settings: Settings, task: str) -> int | None:
    """Open items of the task in the review queue, where this host keeps the queue; else ``None``."""
    from monitors.review.queue import ReviewQueue, queue_path

    if not queue_path(settings).exists():
        return None
    return int(ReviewQueue.for_settings(settings).stats(task=task)[task]["open"])


def gather(settings: Settings, task: str, records: TopicRecords | None) -> ReportInputs:
    """One task's inputs: its store plus its share of ``records`` (``None``: Kafka was not read)."""
    spec = settings.task(task)
    got = records or TopicRecords()
    return ReportInputs(
        spec=spec,
        store=read_store(store_path(settings, task), spec.teacher.model,
                         lambda event_id: is_student_audit(event_id, spec.sampling.seed,
                                                           spec.sampling.student_audit_rate),
                         memory_limit=settings.streams.store_memory_limit),
        published=tuple(p for p in got.published if p.task == task),
        rejected=tuple(r for r in got.rejected if r.task == task),
        drift=tuple(d for d in got.drift if d.task == task),
        counters=dict(got.counters.get(task, {})),
        kafka_read=records is not None,
        reviewed=tuple(d for d in got.reviewed if d.task == task),
        review_backlog=review_backlog(settings, task),
    )


def collect(settings: Settings, tasks: Iterable[str], *, use_kafka: bool = True) -> list[ReportInputs]:
    """Inputs of several tasks, reading the topics once."""
    records = asyncio.run(read_records(settings)) if use_kafka else None
    return [gather(settings, task, records) for task in tasks]
