"""Rebuild a task's store from Kafka: the topics are the truth, DuckDB a local view of them.

A task lives on one partition of every topic (all keyed by task). When a worker
first touches a task after an assignment, :class:`streams.pipeline.Pipeline`
reads that partition of four topics from where this store last stopped (its
``meta`` table; the beginning for a new store) to the end, and applies them here
before it processes the task's batch:

* ``distill.labeled`` -> ``examples``; ``distill.review`` -> ``review``;
  ``distill.gold`` -> ``gold`` (published through the outbox like the others);
* each of those records also becomes an ``events`` row with its outcome, so a
  redelivered event is known and never goes to the teacher again, and a
  ``spend`` row when it carries a cost: every paid teacher call ends in exactly
  one of the three (an online or batch label, a review item, a pinned gold
  answer), with its cost, so the budget read back from ``spend`` is the one the
  previous owner had spent;
* ``distill.pending`` -> ``pending``: events waiting for a Batch API job, with
  the job's id once submitted, less those a label or review item resolved; the
  new owner's next poll collects the job (or labels them online), so a moved
  task loses no waiting event and pays for no job twice;
* ``distill.reviewed`` -> the review decisions, applied again in order
  (:func:`streams.reviewed.apply_decisions`; every decision is idempotent, and a
  refused one was dead-lettered by its first owner, so it is dropped here).
  Human examples and gold rows a person promoted come back this way;
* ``train.jobs`` -> ``snapshots`` (published): the retrain triggers count new
  examples from the task's last job, wherever it was sent from.

Every write is idempotent (keyed inserts, or inserts of ids not yet stored), so
reading a record twice (the outbox publishes at least once; a worker that gets
its own task back re-reads what it published since) changes nothing. The new
read positions are saved only once everything is applied, so a crash
mid-restore leaves the old ones and the next owner reads those records again.

Why the gold rows get a topic of their own rather than being rebuilt from
``inference.events``: the events before the committed offset are never
delivered again, and rebuilding from the start of that topic would read every
event ever sent (and needs it retained for good).

What is not moved: events a previous owner sampled out (rate, budget,
duplicate) leave no record, so if their batch was not committed they are
decided again by the new owner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pydantic

from distillery.answers import encode
from distillery.events import BatchPending, GoldExample, LabeledExample, ReviewItem, TrainJob
from distillery.settings import Settings
from distillery.taskspec import TaskSpec
from streams.reviewed import apply_decisions
from streams.rows import WINDOW_MS
from streams.source import Source
from streams.store.db import (
    TaskStore,
    split_for,
)
from streams.store.restore import TABLES, backfill_rows, has_meta, merge, meta, put_meta, stage_outbox

log = logging.getLogger("distillery.streams")

KINDS = ("pending", "labeled", "review", "gold", "reviewed", "train_jobs")
"""The topics a store is rebuilt from, in the order they are applied.

Waiting events first (a label or review item of the same event ends the wait),
decisions last (they need their items).
"""


@dataclass
class Fetched:
    """What a read of a task's partitions found.

    ``records``: ``(kind, value, source)`` of the task's records, in offset order per kind;
    ``ends``: per ``(topic, partition)`` read, the offset to start from next time;
    ``inference_mark``: ``(partition, offset)`` of the last ``inference.events`` record
    when the read began: any event at or below it may already be labeled.
    """

    records: list[tuple[str, bytes, Source]] = field(default_factory=list)
    ends: dict[tuple[str, int], int] = field(default_factory=dict)
    inference_mark: tuple[int, int] | None = None


@dataclass
class Restored:
    """What a restore added to the store (rows new to it), for the log and counters."""

    records: int = 0
    examples: int = 0
    review: int = 0
    gold: int = 0
    pending: int = 0
    spend_usd: float = 0.0
    decisions: int = 0
    inputs: list[str] = field(default_factory=list)
    """Inputs of the examples and review items read, oldest first (to seed the deduper)."""

    def describe(self) -> str:
        return (f"{self.records} records read: {self.examples} examples, {self.review} review items, "
                f"{self.gold} gold rows, {self.pending} waiting for a Batch API job, {self.decisions} review decisions, {self.spend_usd:.6f} USD of spend")


def meta_key(topic: str, partition: int) -> str:
    return f"restore:{topic}:{partition}"


MARK_PREFIX = "inference_mark:"


def positions(store: TaskStore) -> dict[tuple[str, int], int]:
    """Where the last restore of this store stopped, per ``(topic, partition)``."""
    out: dict[tuple[str, int], int] = {}
    for key, value in meta(store, "restore:"):
        topic, _, partition = str(key).removeprefix("restore:").rpartition(":")
        out[(topic, int(partition))] = int(value)
    return out


def inference_marks(store: TaskStore) -> dict[int, int]:
    """Per ``inference.events`` partition, the last offset a previous owner may have labeled."""
    return {int(str(k).removeprefix(MARK_PREFIX)): int(v)
            for k, v in meta(store, MARK_PREFIX)}


@dataclass
class _Rows:
    events: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    examples: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    review: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    gold: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    spend: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    pending: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    snapshots: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    resolved: dict[str, str] = field(default_factory=dict)
    """Event id -> outcome of every label and review item read (ends a wait for a Batch API job)."""


def _event(event_id: str, text: str, outcome: str, ts_ms: int, output: Any = None) -> tuple[Any, ...]:
    return (event_id, text, encode(output), None, None, None, None, outcome, ts_ms, ts_ms, None, None, None, None)


def rows_of(spec: TaskSpec, kind: str, value: bytes, rows: _Rows) -> str | None:
    """Add one record's rows to ``rows``; return its input (``None`` for a record that is not the task's)."""
    if kind == "pending":
        p = BatchPending.model_validate_json(value)
        old = rows.pending.get(p.event_id)
        batch_id = p.batch_id or (old[3] if old else None)
        rows.pending[p.event_id] = (p.event_id, p.input, p.event_json, batch_id, old[4] if old else p.ts_ms)
        rows.events.setdefault(p.event_id, _event(p.event_id, p.input, "pending_batch", p.ts_ms))
        return None
    if kind == "labeled":
        ex = LabeledExample.model_validate_json(value)
        label = encode(ex.label)
        category = ex.label if isinstance(ex.label, str) else None
        rows.examples[(ex.event_id, ex.source)] = (
            ex.event_id, ex.input, label, category, ex.source, ex.teacher_model, ex.teacher_confidence,
            encode(ex.student_output), split_for(ex.input, spec.retrain.eval_fraction), ex.ts_ms // WINDOW_MS,
            ex.ts_ms)
        rows.events[ex.event_id] = _event(ex.event_id, ex.input, "labeled", ex.ts_ms, ex.student_output)
        rows.resolved[ex.event_id] = "labeled"
        if ex.cost_usd > 0:
            rows.spend[ex.event_id] = (ex.event_id, ex.cost_usd, ex.prompt_tokens, ex.completion_tokens,
                                       ex.source == "teacher_batch", ex.teacher_model, ex.ts_ms)
        return ex.input
    if kind == "review":
        it = ReviewItem.model_validate_json(value)
        if it.teacher_output is None:
            status, outcome = "error", "review"
        else:
            status = outcome = "rejected" if it.reason.startswith("rejected: ") else "review"
        rows.review[it.event_id] = (it.event_id, it.input, it.reason, encode(it.teacher_output),
                                    it.teacher_confidence, status, it.ts_ms)
        rows.events[it.event_id] = _event(it.event_id, it.input, outcome, it.ts_ms, it.student_output)
        rows.resolved[it.event_id] = outcome
        if it.cost_usd > 0:
            rows.spend[it.event_id] = (it.event_id, it.cost_usd, 0, 0, False, it.teacher_model, it.ts_ms)
        return it.input
    if kind == "gold":
        g = GoldExample.model_validate_json(value)
        rows.gold[g.gold_id] = (g.gold_id, g.input, g.label, g.category, g.origin, g.teacher_label,
                                g.teacher_confidence, g.ts_ms)
        rows.events[g.gold_id] = _event(g.gold_id, g.input, "gold", g.ts_ms)
        if g.cost_usd > 0 or g.prompt_tokens or g.completion_tokens:
            rows.spend[g.gold_id] = (g.gold_id, g.cost_usd, g.prompt_tokens, g.completion_tokens, g.teacher_batch,
                                     g.teacher_model, g.ts_ms)
        return None
    if kind == "train_jobs":
        job = TrainJob.model_validate_json(value)
        rows.snapshots[job.job_id] = (job.job_id, job.snapshot_sha256, job.snapshot_uri, job.gold_uri, job.n_train,
                                      job.n_eval, job.reason, job.created_at_ms, True)
        return None
    raise ValueError(f"kind: {kind!r} is not a topic a store is rebuilt from; expected one of {KINDS}")


def apply(settings: Settings, task: str, store: TaskStore, fetched: Fetched) -> Restored:
    """Apply what was read to the store and save the new read positions; return what was new.

    A record that does not parse (written by a newer contract, or not ours) is
    logged and skipped: the store cannot hold what it cannot read.
    """
    spec = settings.task(task)
    done = Restored(records=len(fetched.records))
    rows = _Rows()
    decisions: list[tuple[bytes | None, bytes | None, Source]] = []
    for kind, value, src in fetched.records:
        if kind == "reviewed":
            decisions.append((value, task.encode(), src))
            continue
        try:
            text = rows_of(spec, kind, value, rows)
        except pydantic.ValidationError as exc:
            log.warning("task %s: restore skipped a record at %s it cannot read: %s", task, src, str(exc)[:200])
            continue
        if text is not None:
            done.inputs.append(text)
    for event_id in rows.resolved:
        rows.pending.pop(event_id, None)
    merged = merge(store, {name: list(getattr(rows, name).values()) for name, _, _ in TABLES}, rows.resolved)
    done.spend_usd = merged.spend_usd
    for name, n in merged.added.items():
        setattr(done, name, n)
    if decisions:
        applied = apply_decisions(settings, lambda _task: store, decisions)
        done.decisions = applied.applied
    _save_positions(store, fetched)
    return done


def save_positions(store: TaskStore, ends: dict[tuple[str, int], int]) -> None:
    """Move the read positions forward (never back) to ``ends`` (per ``(topic, partition)``)."""
    if not ends:
        return
    old = positions(store)
    values = [(meta_key(topic, partition), str(max(end, old.get((topic, partition), 0))))
              for (topic, partition), end in ends.items()]
    put_meta(store, values)


def _save_positions(store: TaskStore, fetched: Fetched) -> None:
    values = [(meta_key(topic, partition), str(end)) for (topic, partition), end in fetched.ends.items()]
    if fetched.inference_mark is not None:
        partition, offset = fetched.inference_mark
        old = inference_marks(store).get(partition, -1)
        values.append((f"{MARK_PREFIX}{partition}", str(max(old, offset))))
    put_meta(store, values)


BACKFILL_KEY = "published:gold_pending"


def backfill(store: TaskStore, task: str) -> int:
    """Once per store: put its gold rows and waiting events in the outbox; how many.

    Stores written before ``distill.gold`` and ``distill.pending`` existed hold
    rows that are on no topic; the next batch publishes them, so the task can
    move without losing them. A record published twice changes nothing where
    it is read back. Gold rows a person promoted are left out: their decision is
    on ``distill.reviewed``.
    """
    if has_meta(store, BACKFILL_KEY):
        return 0
    gold, waiting = backfill_rows(store)
    records: list[tuple[str, GoldExample | BatchPending]] = []
    for row in gold:
        records.append((f"gold:{row[0]}", GoldExample(
            task=task, gold_id=row[0], input=row[1], label=row[2], category=row[3], origin=row[4],
            teacher_label=row[5], teacher_confidence=row[6], ts_ms=row[7], teacher_model=row[8], cost_usd=row[9],
            prompt_tokens=row[10], completion_tokens=row[11], teacher_batch=row[12])))
    for event_id, text, event_json, batch_id, created in waiting:
        records.append((f"pending:{event_id}:{batch_id or ''}", BatchPending(
            task=task, event_id=event_id, input=text, event_json=event_json, batch_id=batch_id, ts_ms=created)))
    kind = {GoldExample: "gold", BatchPending: "pending"}
    stage_outbox(store, [(record_id, kind[type(rec)], rec.key(), rec.to_json(), rec.ts_ms)
                         for record_id, rec in records], (BACKFILL_KEY, str(len(records))))
    return len(records)
