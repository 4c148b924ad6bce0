"""One batch of raw inference events in; rows, labels, reviews and jobs out.

The streams worker hands each batch here, writes what comes back to Kafka, and
only then commits the batch's offsets, so offsets are committed after the DuckDB
transaction that holds the rows (and after the records are produced).

Every valid event ends in the ``events`` table with its outcome: sampled and
labelled, sent to review, skipped by rate, duplicate or budget, taken from
production, or a gold example. Invalid ones become dead letters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from distillery.artifacts import ArtifactStore
from distillery.events import DeadLetter, InferenceEvent, LabeledExample, ReviewItem, TrainJob
from distillery.settings import Settings
from distillery.taskspec import TaskSpec
from streams.counters import Counters
from streams.filters import judge
from streams.ingest import triage
from streams.labeller import label_all
from streams.recent import RecentIds
from streams.redact import Redactor
from streams.rows import (
    as_text,
    event_row,
    example_row,
    gold_row,
    labeled_record,
    pinned_teacher_answer,
    review_record,
    review_row,
)
from streams.sampling import Decision, Outcome, Sampler
from streams.source import Source
from streams.store.db import StoreBatch, TaskStore, split_for
from streams.store.snapshot import export, mark_published
from streams.teacher import TeacherClient
from streams.teacher_batch import FINAL, BatchLabeler
from streams.triggers import retrain_reason

log = logging.getLogger("distillery.streams")

Raw = tuple[bytes | None, bytes | None, Source]

RECENT_IDS = 500_000
"""Event ids remembered per task, to catch a producer sending the same id twice."""

READER_TURN_S = 0.1
"""How long the writer leaves a store closed when it lets go, so readers can get in."""


@dataclass
class Outputs:
    """What a batch produced, for the agent to write to Kafka."""

    deadletters: list[DeadLetter] = field(default_factory=list)
    labeled: list[LabeledExample] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    jobs: list[TrainJob] = field(default_factory=list)


@dataclass
class _TaskWork:
    batch: StoreBatch = field(default_factory=StoreBatch)
    to_label: list[tuple[InferenceEvent, str, Decision, Source]] = field(default_factory=list)
    to_pin: list[tuple[InferenceEvent, str]] = field(default_factory=list)
    labeled: list[LabeledExample] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)


class Pipeline:
    """The streams worker's state: samplers, stores, teacher clients, counters."""

    def __init__(self, settings: Settings, counters: Counters,
                 teacher_factory: Callable[[str], TeacherClient] | None = None) -> None:
        self.settings = settings
        self.counters = counters
        self.sampler = Sampler(settings.tasks)
        self.redactors = {t: Redactor.for_task(spec) for t, spec in settings.tasks.items()}
        self.teacher_factory = teacher_factory or (lambda task: TeacherClient.from_settings(settings, task))
        self.teachers: dict[str, TeacherClient] = {}
        self.stores: dict[str, TaskStore] = {}
        self.artifacts = ArtifactStore(settings.artifact_root)
        self.drift_ms: dict[str, int] = {}
        self.stop = asyncio.Event()
        self.high_water: dict[str, dict[int, int]] = {}
        self.recent: dict[str, RecentIds] = {}
        self.owned: set[str] = set()
        """Tasks whose partition this worker has read since the last rebalance (it may write their store)."""
        self.pending_decisions: dict[str, Decision] = {}

    def store(self, task: str) -> TaskStore:
        if task not in self.stores:
            self.stores[task] = TaskStore(store_path(self.settings, task), hold_s=self.settings.streams.store_hold_seconds)
        return self.stores[task]

    def teacher(self, task: str) -> TeacherClient:
        if task not in self.teachers:
            self.teachers[task] = self.teacher_factory(task)
        return self.teachers[task]

    async def close(self) -> None:
        self.stop.set()
        for store in self.stores.values():
            store.close()
        for client in self.teachers.values():
            await client.aclose()

    def on_drift(self, task: str, at_ms: int) -> None:
        """A drift event on ``task``: boost its sampling and arm the drift retrain trigger."""
        if task in self.settings.tasks:
            self.sampler.on_drift(task, at_ms)
            self.drift_ms[task] = max(at_ms, self.drift_ms.get(task, 0))

    # ---------------------------------------------------------------- a batch
    async def process(self, raws: Sequence[Raw]) -> Outputs:
        out = Outputs()
        by_task: dict[str, list[tuple[InferenceEvent, Source]]] = defaultdict(list)
        for value, key, source in raws:
            result = triage(value, key, source, tasks=self.settings.tasks.keys(),
                            max_bytes=self.settings.max_event_bytes)
            if isinstance(result, DeadLetter):
                log.warning("dead-lettered %s: %s", source, "; ".join(result.problems)[:300])
                out.deadletters.append(result)
                self.counters.incr(result.task, "deadlettered")
            else:
                by_task[result.task].append((result, source))
        for task, items in by_task.items():
            await self._process_task(task, items, out)
        if any([store.release_if_due() for store in self.stores.values()]):
            await asyncio.sleep(READER_TURN_S)  # a reader waiting on the file gets in now
        return out

    async def _process_task(self, task: str, items: list[tuple[InferenceEvent, Source]], out: Outputs) -> None:
        self.owned.add(task)
        spec = self.settings.task(task)
        store = self.store(task)
        first: dict[str, tuple[InferenceEvent, Source]] = {}
        for ev, src in items:
            first.setdefault(ev.event_id, (ev, src))
        # only events at or below the stored high-water mark can be redeliveries: look those up
        if task not in self.high_water:
            self.high_water[task] = store.high_water()
        marks = self.high_water[task]
        recent = self.recent.setdefault(task, RecentIds(RECENT_IDS))
        maybe_seen = [eid for eid, (_, src) in first.items() if src.offset <= marks.get(src.partition, -1)]
        known = store.known(maybe_seen) | {eid for eid in first if eid in recent}
        recent.add_all(first)
        for _, src in first.values():
            if src.offset > marks.get(src.partition, -1):
                marks[src.partition] = src.offset
        self.counters.incr(task, "redelivered", len(items) - len(first) + len(known))
        work = _TaskWork()
        redactor = self.redactors[task]
        for event_id, (ev, src) in first.items():
            if event_id in known:
                continue
            redaction = redactor(ev.input_text())
            text = redaction.text
            if redaction.changed:
                self.counters.incr(task, "pii_redacted")
            if ev.label is not None:
                pinned = pinned_teacher_answer(ev, spec)
                if pinned is None:
                    work.to_pin.append((ev, text))  # the teacher answers each gold input once
                else:
                    work.batch.gold.append(gold_row(ev, text, spec, teacher_label=pinned,
                                                    teacher_confidence=ev.confidence))
                work.batch.events.append(event_row(ev, text, spec, "gold", src))
                self.counters.incr(task, "gold")
                continue
            decision = self.sampler.decide(ev, text=text)
            for change in decision.transitions:
                log.warning("task %s: %s", task, change)
            if decision.outcome is Outcome.PRODUCTION_LABEL:
                # the router sent it up because the student was unsure: a hard input, not a random draw
                source = "router_escalation" if ev.route == "teacher" else "production"
                self._judge(work, spec, ev, text, src, as_text(ev.output) or "", None, source,
                            spec.teacher.model, cost=0.0, batch=False)
            elif decision.outcome is Outcome.CALL_TEACHER:
                work.to_label.append((ev, text, decision, src))
            elif decision.outcome is Outcome.CALL_TEACHER_BATCH:
                # not urgent: waits for the next Batch API job (half price); see poll_batches
                work.batch.pending.append((ev.event_id, text, ev.model_dump_json(), None, int(time.time() * 1000)))
                work.batch.events.append(event_row(ev, text, spec, "pending_batch", src))
                self.pending_decisions[ev.event_id] = decision
                self.counters.incr(task, "pending_batch")
            else:
                work.batch.events.append(event_row(ev, text, spec, decision.outcome.value, src))
                self.counters.incr(task, decision.outcome.value)
        if work.to_label:
            await self._label(task, spec, work)
        if work.to_pin:
            await self._pin(task, spec, work)
        if len(work.batch):
            store.write(work.batch)
        out.labeled.extend(work.labeled)
        out.review.extend(work.review)
        job = self._maybe_trigger(task, spec, store)
        if job is not None:
            out.jobs.append(job)

    async def _label(self, task: str, spec: TaskSpec, work: _TaskWork) -> None:
        texts = [text for _, text, _, _ in work.to_label]
        results = await label_all(self.teacher(task), texts, stop=self.stop)
        for (ev, text, decision, src), got in zip(work.to_label, results, strict=True):
            self.counters.incr(task, "teacher_calls")
            if got.result is None:
                self.sampler.settle(decision, 0.0, labelled=False)
                work.batch.review.append(review_row(ev, text, got.error or "teacher_error", None, None, "error"))
                work.batch.events.append(event_row(ev, text, spec, "review", src))
                work.review.append(review_record(ev, text, got.error or "teacher_error", None, spec.teacher.model, None))
                self.counters.incr(task, "review")
                continue
            r = got.result
            self.counters.incr(task, "spend_usd", r.cost_usd)
            work.batch.spend.append((ev.event_id, r.cost_usd, r.prompt_tokens, r.completion_tokens, r.batch,
                                     r.model, int(time.time() * 1000)))
            status = self._judge(work, spec, ev, text, src, r.text, r.confidence,
                                 "teacher_batch" if r.batch else "teacher", r.model, cost=r.cost_usd,
                                 batch=r.batch, tokens=(r.prompt_tokens, r.completion_tokens))
            self.sampler.settle(decision, r.cost_usd, labelled=status == "labeled",
                                prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens)

    async def _pin(self, task: str, spec: TaskSpec, work: _TaskWork) -> None:
        """Pin the teacher's answer on new gold inputs (scored once, frozen): the eval build's cost."""
        results = await label_all(self.teacher(task), [text for _, text in work.to_pin], stop=self.stop)
        for (ev, text), got in zip(work.to_pin, results, strict=True):
            r = got.result
            answer = judge(spec, r.text, None).label if r is not None else None
            work.batch.gold.append(gold_row(ev, text, spec, teacher_label=as_text(answer),
                                            teacher_confidence=r.confidence if r else None))
            if r is not None:
                self.counters.incr(task, "teacher_calls")
                self.counters.incr(task, "spend_usd", r.cost_usd)
                work.batch.spend.append((ev.event_id, r.cost_usd, r.prompt_tokens, r.completion_tokens, r.batch,
                                         r.model, int(time.time() * 1000)))

    def _judge(self, work: _TaskWork, spec: TaskSpec, ev: InferenceEvent, text: str, src: Source | None, answer: str,
               confidence: float | None, source: str, model: str | None, *, cost: float, batch: bool,
               tokens: tuple[int, int] = (0, 0)) -> str:
        """File one answer as an example or a review item; return the event's outcome.

        ``src`` is ``None`` for an event already stored (a batch result): its row is updated by the caller.
        """
        verdict = judge(spec, answer, confidence)
        task = ev.task
        if verdict.accepted and verdict.label is not None:
            split = split_for(text, spec.retrain.eval_fraction)
            work.batch.examples.append(example_row(ev, text, verdict.label, spec, source=source,  # type: ignore[arg-type]
                                                   teacher_model=model, confidence=confidence, split=split))
            if src is not None:
                work.batch.events.append(event_row(ev, text, spec, "labeled", src))
            work.labeled.append(labeled_record(ev, text, verdict.label, source=source,  # type: ignore[arg-type]
                                               teacher_model=model, confidence=confidence, cost_usd=cost,
                                               prompt_tokens=tokens[0], completion_tokens=tokens[1]))
            self.counters.incr(task, "labeled")
            return "labeled"
        status = "review" if verdict.status.value == "review" else "rejected"
        reason = verdict.describe() if status == "review" else f"rejected: {verdict.describe()}"
        work.batch.review.append(review_row(ev, text, reason, answer, confidence, status))
        if src is not None:
            work.batch.events.append(event_row(ev, text, spec, status, src))
        work.review.append(review_record(ev, text, reason, answer, model, confidence, cost))
        self.counters.incr(task, status)
        return status

    # ---------------------------------------------------------- batch labels
    async def poll_batches(self) -> Outputs:
        """Submit waiting events as Batch API jobs, and take in the jobs that finished."""
        out = Outputs()
        for task in sorted(self.owned):
            spec = self.settings.task(task)
            if not spec.teacher.batch:
                continue
            store = self.store(task)
            labeler = BatchLabeler(self.teacher(task))
            waiting = store.query("SELECT event_id, input FROM pending WHERE batch_id IS NULL LIMIT 5000")
            if waiting:
                batch_id = await labeler.submit(dict(waiting))
                with store.connect() as con:
                    con.executemany("UPDATE pending SET batch_id = ? WHERE event_id = ?",
                                    [[batch_id, event_id] for event_id, _ in waiting])
                log.info("task %s: %d events sent as Batch API job %s", task, len(waiting), batch_id)
            for (batch_id,) in store.query("SELECT DISTINCT batch_id FROM pending WHERE batch_id IS NOT NULL"):
                batch = await labeler.retrieve(batch_id)
                if batch.status not in FINAL:
                    continue
                rows = store.query("SELECT event_id, event_json FROM pending WHERE batch_id = ?", [batch_id])
                outcome = await labeler.collect(batch, [r[0] for r in rows])
                work = _TaskWork()
                for event_id, event_json in rows:
                    ev = InferenceEvent.model_validate_json(event_json)
                    text = self.redactors[task](ev.input_text()).text
                    decision = self.pending_decisions.pop(event_id, None)
                    result = outcome.results.get(event_id)
                    if result is None:
                        # failed or expired in the batch: back in the queue for the next job
                        work.batch.resolved[event_id] = "pending_batch"
                        with store.connect() as con:
                            con.execute("UPDATE pending SET batch_id = NULL WHERE event_id = ?", [event_id])
                        continue
                    work.batch.spend.append((event_id, result.cost_usd, result.prompt_tokens,
                                             result.completion_tokens, True, result.model, int(time.time() * 1000)))
                    self.counters.incr(task, "teacher_calls")
                    self.counters.incr(task, "spend_usd", result.cost_usd)
                    status = self._judge(work, spec, ev, text, None, result.text, result.confidence,
                                         "teacher_batch", result.model, cost=result.cost_usd, batch=True)
                    work.batch.resolved[event_id] = status  # the event row exists: its outcome is updated
                    if decision is not None:
                        self.sampler.settle(decision, result.cost_usd, labelled=status == "labeled")
                work.batch.resolved = {k: v for k, v in work.batch.resolved.items() if v != "pending_batch"}
                store.write(work.batch)
                out.labeled.extend(work.labeled)
                out.review.extend(work.review)
                log.info("task %s: Batch API job %s %s, %d labels", task, batch_id, batch.status,
                         len(outcome.results))
            job = self._maybe_trigger(task, spec, store)
            if job is not None:
                out.jobs.append(job)
        return out

    def release_idle(self) -> None:
        """Let go of stores held past their time when no batch came to do it (an idle stream)."""
        for store in self.stores.values():
            store.release_if_due()

    def revoked(self) -> None:
        """Partitions were taken away: stop writing any task's store until we read it again."""
        self.owned.clear()
        self.high_water.clear()
        for store in self.stores.values():
            store.close()

    # -------------------------------------------------------------- triggers
    def _maybe_trigger(self, task: str, spec: TaskSpec, store: TaskStore) -> TrainJob | None:
        row = store.query(
            "SELECT count(*) FILTER (WHERE split = 'train'), "
            "(SELECT max(created_ms) FROM snapshots WHERE published), "
            "count(*) FILTER (WHERE ingested_ms > coalesce((SELECT max(created_ms) FROM snapshots "
            "WHERE published), 0)) FROM examples"
        )[0]
        total, last_job_ms, new = int(row[0] or 0), row[1], int(row[2] or 0)
        now = int(time.time() * 1000)
        reason = retrain_reason(spec.retrain, total=total, new=new, now_ms=now, last_job_ms=last_job_ms,
                                drift_ms=self.drift_ms.get(task))
        if reason is None:
            return None
        snap = export(store, self.artifacts, task, reason=reason)
        published = store.scalar("SELECT published FROM snapshots WHERE job_id = ?", [snap.job.job_id])
        if published:
            return None  # same data as a job already sent: a repeated trigger starts nothing
        log.info("task %s: retrain (%s) on %d train / %d eval examples -> job %s", task, reason,
                 snap.job.n_train, snap.job.n_eval, snap.job.job_id)
        self.counters.incr(task, "train_jobs")
        return snap.job

    def published(self, job: TrainJob) -> None:
        """The job's event is on Kafka: later triggers count from now."""
        mark_published(self.store(job.task), job.job_id)


def store_path(settings: Settings, task: str) -> Path:
    """The task's DuckDB file."""
    return settings.data_dir / "store" / f"{settings.topic_prefix}{task}.duckdb"
