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
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from distillery.adapter_book import AdapterBook
from distillery.artifacts import ArtifactStore
from distillery.errors import TeacherError, TeacherUnavailableError
from distillery.events import (
    BatchPending,
    DeadLetter,
    GoldExample,
    InferenceEvent,
    LabeledExample,
    ReviewItem,
    TrainJob,
    now_ms,
)
from distillery.settings import Settings
from distillery.taskspec import TaskSpec
from distillery.validation import describe_errors
from streams.counters import Counters
from streams.ingest import triage
from streams.names import NameRedactor, hide_names
from streams.recent import RecentIds
from streams.redact import Redactor, redact_event
from streams.restore import Fetched, backfill, inference_marks, positions, save_positions
from streams.restore import apply as apply_restore
from streams.reviewed import apply_decisions
from streams.rows import (
    as_text,
    event_row,
    example_row,
    gold_record,
    gold_row,
    labeled_record,
    pinned_teacher_answer,
    review_record,
    review_row,
)
from streams.sampling import Decision, Outcome, Sampler
from streams.snapshot_retention import RetentionPolicy, doomed, in_use
from streams.source import Raw, Source
from streams.store.db import StoreBatch, TaskStore, split_for
from streams.store.snapshot import Pruned, delete_snapshots, export, mark_published, snapshot_rows
from streams.teacher.batch import FINAL, BatchLabeler
from streams.teacher.client import TeacherClient
from streams.teacher.completions import TeacherResult
from streams.teacher.filters import judge
from streams.teacher.labeler import label_all
from streams.triggers import retrain_reason

log = logging.getLogger("distillery.streams")


RECENT_IDS = 500_000
PRUNE_EVERY_S = 3600.0
"""Event ids remembered per task, to catch a producer sending the same id twice."""

RESTORE_DEDUPE_SEED = 50_000
"""At most this many of the newest restored inputs are remembered by the deduper (~45 us each)."""

READER_TURN_S = 0.1
"""How long the writer leaves a store closed when it lets go, so readers can get in."""


@dataclass
class Outputs:
    """What a batch produced, for the agent to write to Kafka."""

    deadletters: list[DeadLetter] = field(default_factory=list)
    labeled: list[LabeledExample] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    jobs: list[TrainJob] = field(default_factory=list)
    gold: list[GoldExample] = field(default_factory=list)
    pending: list[BatchPending] = field(default_factory=list)
    outbox: dict[str, list[str]] = field(default_factory=dict)
    """Per task, the outbox rows of ``labeled``, ``review`` and ``gold``: deleted once Kafka has them (:meth:`Pipeline.acked`)."""


@dataclass
class _TaskWork:
    batch: StoreBatch = field(default_factory=StoreBatch)
    to_label: list[tuple[InferenceEvent, str, Decision, Source]] = field(default_factory=list)
    to_pin: list[tuple[InferenceEvent, str, Source]] = field(default_factory=list)
    to_queue: list[tuple[InferenceEvent, str, Decision, Source]] = field(default_factory=list)
    labeled: list[LabeledExample] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    gold: list[GoldExample] = field(default_factory=list)
    pending: list[BatchPending] = field(default_factory=list)


Restorer = Callable[[str, dict[tuple[str, int], int]], Awaitable[Fetched]]
"""``restorer(task, since)``: the task's records on the restore topics after ``since`` (:mod:`streams.restore_kafka`)."""


class Pipeline:
    """The streams worker's state: samplers, stores, teacher clients, counters."""

    def __init__(self, settings: Settings, counters: Counters,
                 teacher_factory: Callable[[str], TeacherClient] | None = None,
                 labeler_factory: Callable[[TeacherClient], BatchLabeler] = BatchLabeler,
                 restorer: Restorer | None = None) -> None:
        self.settings = settings
        self.counters = counters
        self.sampler = Sampler(settings.tasks)
        self.redactors = {t: Redactor.for_task(spec) for t, spec in settings.tasks.items()}
        self.names = NameRedactor.from_settings(settings.streams.names)
        """The named-entity pass on teacher-bound inputs (``[streams.names]``); ``None`` when off."""
        self.teacher_factory = teacher_factory or (lambda task: TeacherClient.from_settings(settings, task))
        self.labeler_factory = labeler_factory
        self.teachers: dict[str, TeacherClient] = {}
        self.stores: dict[str, TaskStore] = {}
        self.artifacts = ArtifactStore(settings.artifact_root)
        self.drift_ms: dict[str, int] = {}
        self.stop = asyncio.Event()
        self.high_water: dict[str, dict[int, int]] = {}
        self.pruned_at: dict[str, float] = {}
        self.snapshots_pruned_at: dict[str, float] = {}
        """When each task's snapshots were last pruned (monotonic); a new export makes it due at once."""
        self.recent: dict[str, RecentIds] = {}
        self.owned: set[str] = set()
        """Tasks whose partition this worker has read since the last rebalance (it may write their store)."""
        self.pending_decisions: dict[str, Decision] = {}
        self.restorer = restorer
        self.restored: set[str] = set()
        """Tasks whose store was brought up to the topics' end since the last rebalance."""
        self.restore_topics = settings.topics.retained()
        self.written: dict[str, dict[tuple[str, int], int]] = {}
        """Per restored task, one past the offset of its last record on each restore topic (saved on revoke)."""

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
        self._save_written()
        for store in self.stores.values():
            store.close()
        for client in self.teachers.values():
            await client.aclose()
        if self.names is not None:
            self.names.close()

    def on_drift(self, task: str, at_ms: int) -> None:
        """A drift event on ``task``: boost its sampling and arm the drift retrain trigger."""
        if task in self.settings.tasks:
            now = now_ms()
            if at_ms > now:  # a future time would boost sampling and re-arm the retrain trigger for ever
                log.warning("task %s: drift event detected_at_ms=%d is %.0f s in the future; taken as now",
                            task, at_ms, (at_ms - now) / 1000)
                at_ms = now
            self.sampler.on_drift(task, at_ms)
            self.drift_ms[task] = max(at_ms, self.drift_ms.get(task, 0))

    async def ensure_restored(self, task: str) -> None:
        """Bring the task's store up to the end of its topics, once per assignment (:mod:`streams.restore`).

        A store that is current reads nothing new; one that is missing or
        behind (another host owned the task meanwhile) gets the examples, review
        items, gold rows, spend and review decisions it lacks, and the offset
        up to which redelivered events may already be labelled.

        Events waiting for a Batch API job come back from ``distill.pending``
        with their job's id: the next :meth:`poll_batches` collects the job (or
        labels them online) as their first owner would have.
        """
        if self.restorer is None or task in self.restored:
            return
        store = self.store(task)
        if (queued := backfill(store, task)):  # before the restore: only rows this store had itself
            log.info("task %s: %d gold row(s) and waiting event(s) stored before distill.gold and "
                     "distill.pending existed are published with the next batch", task, queued)
        began = time.monotonic()
        fetched = await self.restorer(task, positions(store))
        done = apply_restore(self.settings, task, store, fetched)
        self.restored.add(task)
        self.high_water.pop(task, None)  # read again, with the mark the restore saved
        if not done.records:
            return
        deduper = self.sampler.task(task).deduper
        for text in done.inputs[-RESTORE_DEDUPE_SEED:]:
            deduper.check_and_add(text)  # an input the previous owner paid for is a duplicate here too
        log.info("task %s: store restored from Kafka in %.1f s: %s", task, time.monotonic() - began,
                 done.describe())
        self.counters.incr(task, "restored_records", done.records)
        self.counters.incr(task, "restored_examples", done.examples)
        self.counters.incr(task, "restored_gold", done.gold)
        self.counters.incr(task, "restored_review", done.review)
        self.counters.incr(task, "restored_spend_usd", done.spend_usd)

    async def restore_reviewed(self, raws: Sequence[Raw]) -> None:
        """Restore the stores that a batch's review decisions will change, before they are applied."""
        for task in sorted({(key or b"").decode("utf-8", "replace") for _, key, _ in raws}):
            if task in self.settings.tasks:
                await self.ensure_restored(task)

    def apply_reviews(self, raws: Sequence[Raw]) -> list[DeadLetter]:
        """Apply people's review decisions (``distill.reviewed``); return the letters of those refused."""
        if not raws:
            return []
        applied = apply_decisions(self.settings, self.store, raws)
        for letter in applied.deadletters:
            self.counters.incr(letter.task, "review_refused")
        if applied.applied:
            self.counters.incr("_worker", "review_applied", applied.applied)
        return applied.deadletters

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
        await self.ensure_restored(task)
        store = self.store(task)
        first: dict[str, tuple[InferenceEvent, Source]] = {}
        for ev, src in items:
            first.setdefault(ev.event_id, (ev, src))
        # only events at or below the stored high-water mark can be redeliveries: look those up
        if task not in self.high_water:  # first batch of this task on this worker: read its state back
            marks = store.high_water()
            for partition, offset in inference_marks(store).items():  # events a previous owner may have labelled
                marks[partition] = max(marks.get(partition, -1), offset)
            self.high_water[task] = marks
            budget = self.sampler.task(task).budget
            hour_s, day_s = budget.window_starts()
            budget.restore(store.spent_since(int(hour_s * 1000)), store.spent_since(int(day_s * 1000)))
            self._leftovers(task, store, out)
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
            ev = redact_event(redactor, ev, text)  # every stored and published copy: input and output redacted
            if ev.label is not None:
                pinned = pinned_teacher_answer(ev, spec)
                if pinned is None:
                    work.to_pin.append((ev, text, src))  # the teacher answers each gold input once
                else:
                    row = gold_row(ev, text, spec, teacher_label=pinned, teacher_confidence=ev.confidence)
                    work.batch.gold.append(row)
                    work.gold.append(gold_record(row, task, teacher_model=ev.model))
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
                work.to_queue.append((ev, text, decision, src))  # after the named-entity pass
            else:
                work.batch.events.append(event_row(ev, text, spec, decision.outcome.value, src))
                self.counters.incr(task, decision.outcome.value)
        await self._hide_names(task, work)
        for ev, text, decision, src in work.to_queue:
            # not urgent: waits for the next Batch API job (half price); see poll_batches
            created = int(time.time() * 1000)
            work.batch.pending.append((ev.event_id, text, ev.model_dump_json(), None, created))
            work.pending.append(BatchPending(task=task, event_id=ev.event_id, input=text,
                                             event_json=ev.model_dump_json(), ts_ms=created))
            work.batch.events.append(event_row(ev, text, spec, "pending_batch", src))
            self.pending_decisions[ev.event_id] = decision
            self.counters.incr(task, "pending_batch")
        if work.to_label:
            await self._label(task, spec, work)
        if work.to_pin:
            await self._pin(task, spec, work)
        self._stage(task, work, out)
        if len(work.batch):
            store.write(work.batch)
        self._maybe_prune(task, store)
        job = self._maybe_trigger(task, spec, store)
        if job is not None:
            out.jobs.append(job)

    async def _hide_names(self, task: str, work: _TaskWork) -> None:
        """The named-entity pass on this batch's teacher-bound events, in one call off the event loop.

        Only the events going to the teacher pay for it (online, Batch API, gold to
        pin); each keeps the result in every copy (its input, its text, the rows and
        records made from it), so what is stored and published is what the teacher saw.
        Chat inputs are passed message by message, as the redactor passes them.
        """
        if self.names is None:
            return
        bound = [(ev, text) for ev, text, _, _ in work.to_label] + [(ev, text) for ev, text, _ in work.to_pin] + [
            (ev, text) for ev, text, _, _ in work.to_queue]
        if not bound:
            return
        began = time.perf_counter()
        hidden = await hide_names(self.names, self.redactors[task], bound)
        self.counters.incr(task, "names_seconds", time.perf_counter() - began)
        self.counters.incr(task, "names_redacted", sum(changed for _, _, changed in hidden))
        n, p = len(work.to_label), len(work.to_pin)
        work.to_label = [(ev, text, d, src) for (ev, text, _), (_, _, d, src)
                         in zip(hidden[:n], work.to_label, strict=True)]
        work.to_pin = [(ev, text, src) for (ev, text, _), (_, _, src) in zip(hidden[n:n + p], work.to_pin, strict=True)]
        work.to_queue = [(ev, text, d, src) for (ev, text, _), (_, _, d, src)
                         in zip(hidden[n + p:], work.to_queue, strict=True)]

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
        results = await label_all(self.teacher(task), [text for _, text, _ in work.to_pin], stop=self.stop)
        for (ev, text, src), got in zip(work.to_pin, results, strict=True):
            work.batch.events.append(event_row(ev, text, spec, "gold", src))
            r = got.result
            answer = judge(spec, r.text, None).label if r is not None else None
            row = gold_row(ev, text, spec, teacher_label=as_text(answer),
                           teacher_confidence=r.confidence if r else None)
            work.batch.gold.append(row)
            work.gold.append(gold_record(row, task) if r is None else gold_record(
                row, task, teacher_model=r.model, cost_usd=r.cost_usd, prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens, batch=r.batch))
            if r is not None:
                self.counters.incr(task, "teacher_calls")
                self.counters.incr(task, "spend_usd", r.cost_usd)
                self.sampler.task(task).budget.charge(r.cost_usd)
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
        """Submit waiting events as Batch API jobs, and take in the jobs that finished.

        Nothing here may stop the worker, and no waiting event is dropped:

        * an outage (the teacher unavailable, its breaker open) while submitting,
          retrieving or downloading leaves everything as it is: logged, counted
          (``batch_errors``) and tried again at the next poll;
        * a job that cannot give labels (it ended failed, expired or cancelled
          with no output file, its output is unreadable, or the endpoint refuses
          the job or no longer knows it), and any event a finished job did not
          answer, is labelled online instead (``batch_online``), at full price:
          each event then gets its own answer or, when the teacher refuses it,
          a review item with the error, as in the online path. Dead-lettering
          them would be wrong: the events are valid, only the job failed;
        * a pending event the contract no longer accepts (stored by an older
          worker) is dead-lettered with the reason (stage ``batch``).
        """
        out = Outputs()
        for task in sorted(self.owned):
            spec = self.settings.task(task)
            if not spec.teacher.batch:
                continue
            store = self.store(task)
            labeler = self.labeler_factory(self.teacher(task))
            await self._submit_waiting(task, spec, store, labeler, out)
            for (batch_id,) in store.query("SELECT DISTINCT batch_id FROM pending WHERE batch_id IS NOT NULL"):
                await self._take_in(task, spec, store, labeler, batch_id, out)
            job = self._maybe_trigger(task, spec, store)
            if job is not None:
                out.jobs.append(job)
        return out

    def _batch_error(self, task: str, what: str, exc: BaseException, then: str) -> None:
        self.counters.incr(task, "batch_errors")
        log.warning("task %s: Batch API %s failed (%s: %s); %s", task, what, type(exc).__name__,
                    str(exc)[:300], then)

    async def _submit_waiting(self, task: str, spec: TaskSpec, store: TaskStore, labeler: BatchLabeler,
                              out: Outputs) -> None:
        waiting = store.query("SELECT event_id, input FROM pending WHERE batch_id IS NULL LIMIT 5000")
        if not waiting:
            return
        try:
            batch_id = await labeler.submit(dict(waiting))
        except TeacherUnavailableError as exc:
            self._batch_error(task, "submit", exc, f"{len(waiting)} events wait for the next poll")
            return
        except TeacherError as exc:
            self._batch_error(task, "submit", exc, f"{len(waiting)} events are labelled online instead")
            rows = store.query("SELECT event_id, event_json FROM pending WHERE batch_id IS NULL LIMIT 5000")
            await self._resolve(task, spec, store, rows, {}, out)
            return
        now = int(time.time() * 1000)
        sent = dict(waiting)
        submitted = [BatchPending(task=task, event_id=event_id, input=sent[event_id], event_json=event_json,
                                  batch_id=batch_id, ts_ms=now)
                     for event_id, event_json in store.query(
                         "SELECT event_id, event_json FROM pending WHERE batch_id IS NULL")
                     if event_id in sent]
        ids = out.outbox.setdefault(task, [])
        with store.connect() as con:  # the job's id and its records for distill.pending, in one transaction
            con.execute("BEGIN TRANSACTION")
            try:
                con.executemany("UPDATE pending SET batch_id = ? WHERE event_id = ?",
                                [[batch_id, event_id] for event_id, _ in waiting])
                records = [[f"pending:{rec.event_id}:{batch_id}", "pending", rec.key(), rec.to_json(), now]
                           for rec in submitted]
                if records:
                    con.executemany("INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?, ?)", records)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        out.pending.extend(submitted)
        ids.extend(str(r[0]) for r in records)
        log.info("task %s: %d events sent as Batch API job %s", task, len(waiting), batch_id)

    async def _take_in(self, task: str, spec: TaskSpec, store: TaskStore, labeler: BatchLabeler, batch_id: str,
                       out: Outputs) -> None:
        """Collect one job if it is finished; its events get their labels (online where the job gave none)."""
        results: dict[str, TeacherResult] = {}
        try:
            batch = await labeler.retrieve(batch_id)
            if batch.status not in FINAL:
                return
            ids = [r[0] for r in store.query("SELECT event_id FROM pending WHERE batch_id = ?", [batch_id])]
            outcome = await labeler.collect(batch, ids)
        except TeacherUnavailableError as exc:
            self._batch_error(task, f"job {batch_id}", exc, "it is polled again later")
            return
        except TeacherError as exc:
            self._batch_error(task, f"job {batch_id}", exc, "its events are labelled online instead")
            self.counters.incr(task, "batch_failed")
            status = "failed"
        else:
            results, status = outcome.results, outcome.status
            for event_id, why in list(outcome.errors.items())[:5]:
                log.info("task %s: Batch API job %s has no label for %s (%s); labelled online", task, batch_id,
                         event_id, why[:200])
        rows = store.query("SELECT event_id, event_json FROM pending WHERE batch_id = ?", [batch_id])
        if await self._resolve(task, spec, store, rows, results, out):
            log.info("task %s: Batch API job %s %s, %d labels from the job, %d online", task, batch_id, status,
                     len(results), sum(1 for r in rows if r[0] not in results))

    async def _resolve(self, task: str, spec: TaskSpec, store: TaskStore, rows: Sequence[tuple[Any, ...]],
                       results: dict[str, TeacherResult], out: Outputs) -> bool:
        """Give every pending event in ``rows`` its outcome: a job's result, else an online label.

        Written in one transaction; False (nothing written, the rows stay pending) when
        the worker is stopping during a teacher outage.
        """
        work = _TaskWork()
        online: list[tuple[InferenceEvent, str, Decision | None]] = []
        for event_id, event_json in rows:
            try:
                ev = InferenceEvent.model_validate_json(event_json)
            except pydantic.ValidationError as err:
                out.deadletters.append(self._stale_pending(task, store, event_id, event_json, err))
                work.batch.resolved[event_id] = "deadlettered"
                self.pending_decisions.pop(event_id, None)
                self.counters.incr(task, "deadlettered")
                continue
            text = self.redactors[task](ev.input_text()).text
            decision = self.pending_decisions.pop(event_id, None)
            result = results.get(event_id)
            if result is None:
                online.append((ev, text, decision))
                continue
            self._take_label(work, task, spec, ev, text, decision, result)
        if online:
            self.counters.incr(task, "batch_online", len(online))
            try:
                got = await label_all(self.teacher(task), [text for _, text, _ in online], stop=self.stop)
            except TeacherUnavailableError as exc:  # stopping during an outage: the rows stay pending
                self._batch_error(task, "online fallback", exc, "the events stay pending")
                return False
            for (ev, text, decision), labelled in zip(online, got, strict=True):
                self.counters.incr(task, "teacher_calls")
                if labelled.result is None:
                    reason = labelled.error or "teacher_error"
                    if decision is not None:
                        self.sampler.settle(decision, 0.0, labelled=False)
                    work.batch.review.append(review_row(ev, text, reason, None, None, "error"))
                    work.review.append(review_record(ev, text, reason, None, spec.teacher.model, None))
                    work.batch.resolved[ev.event_id] = "review"
                    self.counters.incr(task, "review")
                else:
                    self._take_label(work, task, spec, ev, text, decision, labelled.result)
        self._stage(task, work, out)
        store.write(work.batch)
        return True

    def _take_label(self, work: _TaskWork, task: str, spec: TaskSpec, ev: InferenceEvent, text: str,
                    decision: Decision | None, result: TeacherResult) -> None:
        """File a label for an event already stored as ``pending_batch`` (its row's outcome is updated)."""
        work.batch.spend.append((ev.event_id, result.cost_usd, result.prompt_tokens, result.completion_tokens,
                                 result.batch, result.model, int(time.time() * 1000)))
        self.counters.incr(task, "teacher_calls")
        self.counters.incr(task, "spend_usd", result.cost_usd)
        status = self._judge(work, spec, ev, text, None, result.text, result.confidence,
                             "teacher_batch" if result.batch else "teacher", result.model, cost=result.cost_usd,
                             batch=result.batch, tokens=(result.prompt_tokens, result.completion_tokens))
        work.batch.resolved[ev.event_id] = status
        if decision is not None:
            self.sampler.settle(decision, result.cost_usd, labelled=status == "labeled",
                                prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens)

    def _stale_pending(self, task: str, store: TaskStore, event_id: str, event_json: str,
                       err: pydantic.ValidationError) -> DeadLetter:
        """The dead letter of a pending event the contract no longer accepts."""
        where = store.query("SELECT kafka_partition, kafka_offset FROM events WHERE event_id = ? LIMIT 1",
                            [event_id])
        partition, offset = where[0] if where and where[0][0] is not None else (-1, -1)
        raw = event_json.encode("utf-8", "backslashreplace")
        problems = describe_errors(err, _loads_or_none(event_json))
        log.warning("task %s: pending event %s no longer valid, dead-lettered: %s", task, event_id,
                    "; ".join(problems)[:300])
        return DeadLetter.carrying(raw, task.encode(), task=task, reason="invalid", problems=problems,
                                   source_topic=self.settings.topics.inference, source_partition=partition,
                                   source_offset=offset, event_id=event_id, stage="batch")

    # ----------------------------------------------------------------- outbox
    def _stage(self, task: str, work: _TaskWork, out: Outputs) -> None:
        """The batch's records into its outputs and into the outbox rows written with it."""
        now = int(time.time() * 1000)
        ids = out.outbox.setdefault(task, [])
        kinds: tuple[tuple[str, Sequence[LabeledExample | ReviewItem | GoldExample | BatchPending]], ...] = (
            ("labeled", work.labeled), ("review", work.review), ("gold", work.gold), ("pending", work.pending))
        for kind, records in kinds:
            for rec in records:
                record_id = f"{kind}:{rec.gold_id if isinstance(rec, GoldExample) else rec.event_id}"
                work.batch.outbox.append((record_id, kind, rec.key(), rec.to_json(), now))
                ids.append(record_id)
        out.labeled.extend(work.labeled)
        out.review.extend(work.review)
        out.gold.extend(work.gold)
        out.pending.extend(work.pending)

    def _leftovers(self, task: str, store: TaskStore, out: Outputs) -> None:
        """Records a previous owner stored but may not have published: they go out with this batch."""
        rows = store.outbox()
        if not rows:
            return
        log.warning("task %s: publishing %d record(s) left in the outbox by an interrupted batch", task, len(rows))
        self.counters.incr(task, "outbox_replayed", len(rows))
        ids = out.outbox.setdefault(task, [])
        for record_id, kind, _key, value in rows:
            if kind == "labeled":
                out.labeled.append(LabeledExample.model_validate_json(value))
            elif kind == "gold":
                out.gold.append(GoldExample.model_validate_json(value))
            elif kind == "pending":
                out.pending.append(BatchPending.model_validate_json(value))
            else:
                out.review.append(ReviewItem.model_validate_json(value))
            ids.append(record_id)

    def acked(self, out: Outputs) -> None:
        """Kafka has every record of ``out``: forget their outbox rows."""
        for task, ids in out.outbox.items():
            if ids:
                self.store(task).outbox_done(ids)

    def _maybe_prune(self, task: str, store: TaskStore) -> None:
        """At most hourly: drop ``events`` rows past ``[streams] events_retention_days``."""
        days = self.settings.streams.events_retention_days
        now = time.monotonic()
        if days <= 0 or now - self.pruned_at.get(task, -PRUNE_EVERY_S) < PRUNE_EVERY_S:
            return
        self.pruned_at[task] = now
        gone = store.prune_events(int(time.time() * 1000 - days * 86_400_000))
        if gone:
            log.info("task %s: %d event row(s) older than %g days deleted", task, gone, days)
            self.counters.incr(task, "events_pruned", gone)

    def snapshots_due(self) -> list[str]:
        """Owned, restored tasks whose snapshots should be pruned now: a snapshot was written since the
        last pass, or the last pass is an hour old (snapshots age past the minimum age)."""
        now = time.monotonic()
        return [t for t in sorted(self.owned & self.restored)
                if now - self.snapshots_pruned_at.get(t, -PRUNE_EVERY_S) >= PRUNE_EVERY_S]

    def prune_snapshots(self, task: str, book: AdapterBook, *, now_ms: int | None = None) -> Pruned:
        """Delete the task's snapshots retention lets go (:mod:`streams.snapshot_retention`).

        ``book`` must be the task's adapter book read whole just now. A file that
        cannot be deleted stays listed and is tried again at the next pass.
        """
        store = self.store(task)
        rows = snapshot_rows(store)
        going = doomed(rows, RetentionPolicy.from_settings(self.settings), in_use(book, task, rows),
                       now_ms=now_ms if now_ms is not None else int(time.time() * 1000))
        done = delete_snapshots(store, self.artifacts, task, rows, going) if going else Pruned(0, 0)
        if done.deleted:
            log.info("task %s: %d training snapshot(s) deleted (retention: newest %d kept, none younger than "
                     "%g days, none an adapter or a waiting job names)", task, done.deleted,
                     self.settings.streams.snapshots_keep, self.settings.streams.snapshots_min_age_days)
            self.counters.incr(task, "snapshots_deleted", done.deleted)
        if done.failed:
            self.counters.incr(task, "snapshot_delete_errors", done.failed)
        self.snapshots_pruned_at[task] = time.monotonic()
        return done

    def release_idle(self) -> None:
        """Let go of stores held past their time when no batch came to do it (an idle stream)."""
        for store in self.stores.values():
            store.release_if_due()

    def wrote(self, task: str, meta: Any) -> None:
        """Kafka has a record of ``task`` at ``meta`` (its ``RecordMetadata``; ``None`` from a fake broker).

        While a worker owns a task it is the one writer of the task's records, so
        once its store was restored, nothing of the task's on a restore topic lies
        between the restore's end and its own last record: the next restore
        (after a rebalance that leaves the task here) starts after it, instead of
        reading back everything this worker published.
        """
        offset = getattr(meta, "offset", None)
        if task not in self.restored or offset is None or meta.topic not in self.restore_topics:
            return
        at = (str(meta.topic), int(meta.partition))
        marks = self.written.setdefault(task, {})
        marks[at] = max(marks.get(at, 0), int(offset) + 1)

    def _save_written(self) -> None:
        for task, marks in self.written.items():
            save_positions(self.store(task), marks)
        self.written.clear()

    def revoked(self) -> None:
        """Partitions were taken away: stop writing any task's store until we read it again."""
        self._save_written()
        self.owned.clear()
        self.high_water.clear()
        self.restored.clear()
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
        snap = export(store, self.artifacts, task, reason=reason, mask_digits=spec.kind == "classification")
        if snap.new:
            self.snapshots_pruned_at.pop(task, None)  # a new copy in the store: retention runs at the next pass
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


def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def store_path(settings: Settings, task: str) -> Path:
    """The task's DuckDB file."""
    return settings.data_dir / "store" / f"{settings.topic_prefix}{task}.duckdb"
