"""The online path: one batch of raw inference events in; rows, labels, reviews and jobs out.

The streams worker hands each batch here, writes what comes back to Kafka, and
only then commits the batch's offsets, so offsets are committed after the DuckDB
transaction that holds the rows (and after the records are produced).

Every valid event ends in the ``events`` table with its outcome: sampled and
labeled, sent to review, skipped by rate, duplicate or budget, taken from
production, or a gold example. Invalid ones become dead letters.

Elsewhere, by job: the bookkeeping an answer makes (:mod:`streams.filing`,
shared with the Batch API path), the Batch API jobs' reconciliation
(:mod:`streams.teacher.batch_poll`), the retrain trigger (:mod:`streams.triggers`)
and every SQL statement (:mod:`streams.store`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from distillery.adapter_book import AdapterBook
from distillery.answers import encode
from distillery.artifacts import ArtifactStore
from distillery.counters import Counters
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
from streams.filing import Filing, Outputs, TaskWork, stage
from streams.ingest import triage
from streams.names import NameRedactor, hide_names
from streams.recent import RecentIds
from streams.redact import Redactor, redact_event
from streams.restore import Fetched, backfill, inference_marks, positions, save_positions
from streams.restore import apply as apply_restore
from streams.reviewed import apply_decisions
from streams.rows import event_row, gold_record, gold_row, pinned_teacher_answer
from streams.sampling import Decision, Outcome, Sampler
from streams.snapshot_retention import RetentionPolicy, doomed, in_use
from streams.source import Raw, Source
from streams.store.db import TaskStore, store_path
from streams.store.snapshot import Pruned, delete_snapshots, mark_published, snapshot_rows
from streams.teacher.batch import BatchLabeler
from streams.teacher.client import TeacherClient
from streams.teacher.filters import judge
from streams.teacher.labeler import label_all
from streams.triggers import retrain

log = logging.getLogger("distillery.streams")


RECENT_IDS = 500_000
PRUNE_EVERY_S = 3600.0
"""Event ids remembered per task, to catch a producer sending the same id twice."""

RESTORE_DEDUPE_SEED = 50_000
"""At most this many of the newest restored inputs are remembered by the deduper (~45 us each)."""

READER_TURN_S = 0.1
"""How long the writer leaves a store closed when it lets go, so readers can get in."""


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
        self.filing = Filing(counters, self.sampler)
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
            self.stores[task] = TaskStore(store_path(self.settings, task), hold_s=self.settings.streams.store_hold_seconds,
                                          memory_limit=self.settings.streams.store_memory_limit)
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
        up to which redelivered events may already be labeled.

        Events waiting for a Batch API job come back from ``distill.pending``
        with their job's id: the next :func:`~streams.teacher.batch_poll.poll_batches` collects the job (or
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
            for partition, offset in inference_marks(store).items():  # events a previous owner may have labeled
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
        work = TaskWork()
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
                self.filing.answer(work, spec, ev, text, src, encode(ev.output) or "", None, source,
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
        stage(task, work, out)
        if len(work.batch):
            store.write(work.batch)
        self._maybe_prune(task, store)
        job = self.trigger(task, spec, store)
        if job is not None:
            out.jobs.append(job)

    async def _hide_names(self, task: str, work: TaskWork) -> None:
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

    async def _label(self, task: str, spec: TaskSpec, work: TaskWork) -> None:
        texts = [text for _, text, _, _ in work.to_label]
        results = await label_all(self.teacher(task), texts, stop=self.stop)
        for (ev, text, decision, src), got in zip(work.to_label, results, strict=True):
            self.filing.teacher_answer(work, spec, ev, text, src, decision, got)

    async def _pin(self, task: str, spec: TaskSpec, work: TaskWork) -> None:
        """Pin the teacher's answer on new gold inputs (scored once, frozen): the eval build's cost."""
        results = await label_all(self.teacher(task), [text for _, text, _ in work.to_pin], stop=self.stop)
        for (ev, text, src), got in zip(work.to_pin, results, strict=True):
            work.batch.events.append(event_row(ev, text, spec, "gold", src))
            r = got.result
            answer = judge(spec, r.text, None).label if r is not None else None
            row = gold_row(ev, text, spec, teacher_label=encode(answer),
                           teacher_confidence=r.confidence if r else None)
            work.batch.gold.append(row)
            work.gold.append(gold_record(row, task) if r is None else gold_record(
                row, task, teacher_model=r.model, cost_usd=r.cost_usd, prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens, batch=r.batch))
            if r is not None:
                self.counters.incr(task, "teacher_calls")
                self.filing.spent(work, ev, r)
                self.sampler.task(task).budget.charge(r.cost_usd)

    # ----------------------------------------------------------------- outbox
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
    def trigger(self, task: str, spec: TaskSpec, store: TaskStore) -> TrainJob | None:
        """The train job to send now, if a retrain trigger fires (:func:`streams.triggers.retrain`)."""
        snap = retrain(store, self.artifacts, task, spec, now_ms=int(time.time() * 1000),
                       drift_ms=self.drift_ms.get(task))
        if snap is None:
            return None
        if snap.new:
            self.snapshots_pruned_at.pop(task, None)  # a new copy in the store: retention runs at the next pass
        self.counters.incr(task, "train_jobs")
        return snap.job

    def published(self, job: TrainJob) -> None:
        """The job's event is on Kafka: later triggers count from now."""
        mark_published(self.store(job.task), job.job_id)

