"""Filing an event's answer: the store rows, the Kafka records and the counters it makes.

Both labeling paths file through here: the online path
(:mod:`streams.pipeline`) and the Batch API reconciliation
(:mod:`streams.teacher.batch_poll`), so an answer becomes the same example or
review item, costs the same, and settles the sampler's reservation the same
way whichever path it came by. :class:`Outputs` is what a batch or a poll
hands the worker to produce; :func:`stage` puts its records in the outbox rows
written in the same transaction as the rest.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from distillery import events
from distillery.counters import Counters
from distillery.taskspec import TaskSpec
from streams.rows import event_row, example_row, labeled_record, review_record, review_row
from streams.sampling import Decision, Sampler
from streams.source import Source
from streams.store.db import StoreBatch, split_for
from streams.teacher.completions import TeacherResult
from streams.teacher.filters import judge
from streams.teacher.labeler import Labeled


@dataclass
class Outputs:
    """What a batch produced, for the worker to write to Kafka."""

    deadletters: list[events.DeadLetter] = field(default_factory=list)
    labeled: list[events.LabeledExample] = field(default_factory=list)
    review: list[events.ReviewItem] = field(default_factory=list)
    jobs: list[events.TrainJob] = field(default_factory=list)
    gold: list[events.GoldExample] = field(default_factory=list)
    pending: list[events.BatchPending] = field(default_factory=list)
    outbox: dict[str, list[str]] = field(default_factory=dict)
    """Per task, the outbox rows of ``labeled``, ``review`` and ``gold``: deleted once Kafka has them
    (:meth:`streams.pipeline.Pipeline.acked`)."""


@dataclass
class TaskWork:
    """One task's share of a batch: the rows to store and the records to publish with them."""

    batch: StoreBatch = field(default_factory=StoreBatch)
    to_label: list[tuple[events.InferenceEvent, str, Decision, Source]] = field(default_factory=list)
    to_pin: list[tuple[events.InferenceEvent, str, Source]] = field(default_factory=list)
    to_queue: list[tuple[events.InferenceEvent, str, Decision, Source]] = field(default_factory=list)
    labeled: list[events.LabeledExample] = field(default_factory=list)
    review: list[events.ReviewItem] = field(default_factory=list)
    gold: list[events.GoldExample] = field(default_factory=list)
    pending: list[events.BatchPending] = field(default_factory=list)


class Filing:
    """Files answers into a :class:`TaskWork`, counting them and settling the sampler's reservations."""

    def __init__(self, counters: Counters, sampler: Sampler) -> None:
        self.counters = counters
        self.sampler = sampler

    def teacher_answer(self, work: TaskWork, spec: TaskSpec, ev: events.InferenceEvent, text: str,
                       src: Source | None, decision: Decision | None, got: Labeled) -> str:
        """File the teacher's answer (or its failure) on one event; return the event's outcome.

        One teacher call is counted. A failure becomes a review item with the
        error; an answer is paid for (``spend``) and judged (:meth:`answer`).
        ``decision`` (the sampler's, ``None`` when it is gone, e.g. after a
        restart) is settled with the cost. ``src`` is ``None`` for an event
        already stored as ``pending_batch``: its row's outcome is updated instead
        of a row added.
        """
        task = ev.task
        self.counters.incr(task, "teacher_calls")
        r = got.result
        if r is None:
            reason = got.error or "teacher_error"
            if decision is not None:
                self.sampler.settle(decision, 0.0, labeled=False)
            work.batch.review.append(review_row(ev, text, reason, None, None, "error"))
            if src is not None:
                work.batch.events.append(event_row(ev, text, spec, "review", src))
            work.review.append(review_record(ev, text, reason, None, spec.teacher.model, None))
            self.counters.incr(task, "review")
            status = "review"
        else:
            self.spent(work, ev, r)
            status = self.answer(work, spec, ev, text, src, r.text, r.confidence,
                                 "teacher_batch" if r.batch else "teacher", r.model, cost=r.cost_usd,
                                 batch=r.batch, tokens=(r.prompt_tokens, r.completion_tokens))
            if decision is not None:
                self.sampler.settle(decision, r.cost_usd, labeled=status == "labeled",
                                    prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens)
        if src is None:
            work.batch.resolved[ev.event_id] = status
        return status

    def spent(self, work: TaskWork, ev: events.InferenceEvent, r: TeacherResult) -> None:
        """Record what a teacher answer on ``ev`` cost: a ``spend`` row and the ``spend_usd`` counter."""
        self.counters.incr(ev.task, "spend_usd", r.cost_usd)
        work.batch.spend.append((ev.event_id, r.cost_usd, r.prompt_tokens, r.completion_tokens, r.batch,
                                 r.model, int(time.time() * 1000)))

    def answer(self, work: TaskWork, spec: TaskSpec, ev: events.InferenceEvent, text: str, src: Source | None,
               answer: str, confidence: float | None, source: str, model: str | None, *, cost: float,
               batch: bool, tokens: tuple[int, int] = (0, 0)) -> str:
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


def stage(task: str, work: TaskWork, out: Outputs) -> None:
    """The batch's records into its outputs and into the outbox rows written with it."""
    now = int(time.time() * 1000)
    ids = out.outbox.setdefault(task, [])
    Published = events.LabeledExample | events.ReviewItem | events.GoldExample | events.BatchPending
    kinds: tuple[tuple[str, Sequence[Published]], ...] = (
        ("labeled", work.labeled), ("review", work.review), ("gold", work.gold), ("pending", work.pending))
    for kind, records in kinds:
        for rec in records:
            record_id = f"{kind}:{rec.gold_id if isinstance(rec, events.GoldExample) else rec.event_id}"
            work.batch.outbox.append((record_id, kind, rec.key(), rec.to_json(), now))
            ids.append(record_id)
    out.labeled.extend(work.labeled)
    out.review.extend(work.review)
    out.gold.extend(work.gold)
    out.pending.extend(work.pending)
