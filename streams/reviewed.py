"""People's review decisions applied to the task's store (the owner of the task does it).

``distill.reviewed`` is keyed by task like ``inference.events``, with the same
partition count, so the range assignor gives the worker that owns a task's
events its decisions too: the one writer of the DuckDB file applies them.

What each decision does, in one transaction per batch:

* ``accept`` / ``correct``: the teacher's answer (accept) or the person's
  (correct) becomes an example with source ``human``; an earlier human
  example of the same item is replaced. The snapshot export then drops every
  teacher example whose input normalises alike (:func:`streams.store.snapshot.export`),
  so the human label outranks the teacher's; the trainer repeats human
  examples ``review.human_weight`` times;
* ``skip``: the item is marked skipped; nothing is learnt from it;
* ``promote_gold``: the item joins the gold set (source ``human``, the
  teacher's answer pinned beside it) and leaves the training examples, since a
  gold row is never trained on.

A decision that cannot be applied changes nothing and comes back as a dead
letter (stage ``review``) naming the field and the fix: an answer off the
label set or JSON that fails the task's schema (:func:`streams.review_answers.check_answer`),
an item id the store never saw, an ``accept`` of a teacher answer that is not
itself valid, a message that is not a decision at all.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic

from distillery.answers import encode
from distillery.errors import ReviewError
from distillery.events import DeadLetter, ReviewDecision
from distillery.settings import Settings
from distillery.taskspec import TaskSpec
from distillery.validation import describe_errors
from streams.review_answers import check_answer
from streams.rows import WINDOW_MS, category_of
from streams.source import Raw, Source
from streams.store.db import TaskStore, split_for
from streams.store.review import ReviewWrite, find_item_row, write_reviews

log = logging.getLogger("distillery.streams")


STATUS = {"accept": "accepted", "correct": "corrected", "skip": "skipped", "promote_gold": "gold"}
"""The review row's status after each decision."""


@dataclass(frozen=True)
class Item:
    """What the store knows of a reviewed item."""

    event_id: str
    input: str
    teacher_output: str | None
    teacher_confidence: float | None
    student_output: str | None


@dataclass
class Applied:
    """What a batch of decisions did: how many were applied, and the letters of those refused."""

    applied: int = 0
    deadletters: list[DeadLetter] = field(default_factory=list)


def find_item(store: TaskStore, item_id: str) -> Item | None:
    """The item as the store holds it: a review row first, else a (teacher) example, else a gold row."""
    row = find_item_row(store, item_id)
    return Item(*row) if row is not None else None


def resolve(spec: TaskSpec, decision: ReviewDecision, item: Item) -> str | dict[str, Any] | None:
    """The ground-truth answer a decision gives (``None`` for skip), or :class:`ReviewError`."""
    if decision.decision == "skip":
        return None
    if decision.decision == "correct" or (decision.decision == "promote_gold" and decision.answer is not None):
        return check_answer(spec, decision.answer)
    if item.teacher_output is None:
        raise ReviewError(f"decision: {decision.decision!r} keeps the teacher's answer, but item {item.event_id!r} "
                          "has none; send decision 'correct' with the answer")
    try:
        return check_answer(spec, item.teacher_output)
    except ReviewError as exc:
        raise ReviewError(f"decision: {decision.decision!r} keeps the teacher's answer, which is not valid "
                          f"({exc}); send decision 'correct' with the right answer") from None


def apply_decisions(settings: Settings, store_for: Any, raws: Sequence[Raw]) -> Applied:
    """Apply a batch's decisions; ``store_for(task)`` gives the task's :class:`TaskStore`."""
    out = Applied()
    now = int(time.time() * 1000)
    writes: dict[str, list[ReviewWrite]] = {}
    for value, key, src in raws:
        try:
            decision = ReviewDecision.model_validate_json(value or b"")
        except pydantic.ValidationError as err:
            out.deadletters.append(_letter(settings, value, key, src, "invalid", describe_errors(err, _loads(value)),
                                           task=_task_of(key)))
            continue
        if decision.task not in settings.tasks:
            known = ", ".join(sorted(settings.tasks)) or "none"
            out.deadletters.append(_letter(settings, value, key, src, "unknown_task",
                                           [f"task: unknown task {decision.task!r}; declared tasks: {known}"],
                                           task=decision.task, event_id=decision.item_id))
            continue
        spec = settings.task(decision.task)
        store = store_for(decision.task)
        item = find_item(store, decision.item_id)
        try:
            if item is None:
                raise ReviewError(f"item_id: {decision.item_id!r} is not an item of task {decision.task!r} (no "
                                  "review, example or gold row has that event id); send the id the queue showed")
            answer = resolve(spec, decision, item)
        except ReviewError as exc:
            log.warning("task %s: review decision %s refused: %s", decision.task, decision.decision_id, exc)
            out.deadletters.append(_letter(settings, value, key, src, "review_refused", [str(exc)],
                                           task=decision.task, event_id=decision.item_id))
            continue
        writes.setdefault(decision.task, []).append(_write(spec, decision, item, answer, now))
        out.applied += 1
    for task, task_writes in writes.items():
        write_reviews(store_for(task), task_writes)
    return out


def _write(spec: TaskSpec, decision: ReviewDecision, item: Item, answer: str | dict[str, Any] | None,
           now: int) -> ReviewWrite:
    status = STATUS[decision.decision]
    if answer is None:
        return ReviewWrite(item.event_id, status)
    label = encode(answer)
    category = category_of(spec, answer) or (label if spec.kind == "classification" else None)
    if decision.decision == "promote_gold":
        return ReviewWrite(item.event_id, status, gold=(
            item.event_id, item.input, label, category or label, "human", item.teacher_output,
            item.teacher_confidence, now))
    split = split_for(item.input, spec.retrain.eval_fraction)
    return ReviewWrite(item.event_id, status, example=(
        item.event_id, item.input, label, category, "human", decision.reviewer, None, item.student_output, split,
        now // WINDOW_MS, now))


def _task_of(key: bytes | None) -> str:
    try:
        return (key or b"").decode() or "_unknown"
    except UnicodeDecodeError:
        return "_unknown"


def _loads(value: bytes | None) -> Any:
    try:
        return json.loads(value or b"")
    except (ValueError, RecursionError):
        return None


def _letter(settings: Settings, value: bytes | None, key: bytes | None, src: Source, reason: str,
            problems: list[str], *, task: str, event_id: str | None = None) -> DeadLetter:
    return DeadLetter.carrying(value, key, task=task[:512] or "_unknown", reason=reason, problems=problems,
                               source_topic=src.topic, source_partition=src.partition, source_offset=src.offset,
                               event_id=event_id, stage="review")
