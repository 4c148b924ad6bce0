"""Rows and records built from one event and what became of it (pure).

Each helper returns the tuple for a store table (column order from
:mod:`streams.store.db`) or the contract record for a topic, so the pipeline only
decides *what* happened and these say *how it is written down*.
"""

from __future__ import annotations

import time
from typing import Any

from distillery.answers import encode
from distillery.errors import scrub_credentials
from distillery.events import GoldExample, InferenceEvent, LabeledExample, LabelSource, ReviewItem
from distillery.taskspec import TaskSpec
from streams.source import Source
from streams.teacher.labels import label_set

WINDOW_MS = 15 * 60_000
"""Time windows of labeled examples (per-category counts are kept per window)."""


def category_of(spec: TaskSpec, answer: str | dict[str, Any] | None) -> str | None:
    """The category an answer falls in: its label for classification, else ``None``."""
    if spec.kind != "classification" or not isinstance(answer, str):
        return None
    return label_set(tuple(spec.labels)).match(answer)


def event_row(event: InferenceEvent, text: str, spec: TaskSpec, outcome: str,
              source: Source | None) -> tuple[Any, ...]:
    usage = event.usage
    return (
        event.event_id, text, encode(event.output), event.model, event.route, event.confidence,
        category_of(spec, event.output), outcome, event.ts_ms(), int(time.time() * 1000),
        source.partition if source else None, source.offset if source else None,
        usage.prompt_tokens if usage else None, usage.completion_tokens if usage else None,
    )


def example_row(event: InferenceEvent, text: str, label: str | dict[str, Any], spec: TaskSpec, *,
                source: LabelSource, teacher_model: str | None, confidence: float | None,
                split: str) -> tuple[Any, ...]:
    now = int(time.time() * 1000)
    student = encode(event.output) if event.route == "student" else None
    category = label if isinstance(label, str) else None
    return (event.event_id, text, encode(label), category, source, teacher_model, confidence, student, split,
            now // WINDOW_MS, now)


def labeled_record(event: InferenceEvent, text: str, label: str | dict[str, Any], *, source: LabelSource,
                   teacher_model: str | None, confidence: float | None, cost_usd: float = 0.0,
                   prompt_tokens: int = 0, completion_tokens: int = 0) -> LabeledExample:
    return LabeledExample(
        task=event.task, event_id=event.event_id, input=text, label=label, source=source,
        teacher_model=teacher_model, teacher_confidence=confidence,
        student_output=event.output if event.route == "student" else None,
        cost_usd=cost_usd, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
    )


def review_row(event: InferenceEvent, text: str, reason: str, teacher_output: str | None,
               confidence: float | None, status: str) -> tuple[Any, ...]:
    return (event.event_id, text, scrub_credentials(reason), teacher_output, confidence, status,
            int(time.time() * 1000))


def review_record(event: InferenceEvent, text: str, reason: str, teacher_output: str | None,
                  teacher_model: str | None, confidence: float | None, cost_usd: float = 0.0) -> ReviewItem:
    return ReviewItem(task=event.task, event_id=event.event_id, input=text, reason=scrub_credentials(reason),
                      teacher_output=teacher_output, teacher_model=teacher_model,
                      teacher_confidence=confidence, cost_usd=cost_usd,
                      student_output=event.output if event.route == "student" else None)


def pinned_teacher_answer(event: InferenceEvent, spec: TaskSpec) -> str | None:
    """The teacher's answer a gold event already carries (production ran on the teacher)."""
    return encode(event.output) if event.output is not None and event.model == spec.teacher.model else None


def gold_row(event: InferenceEvent, text: str, spec: TaskSpec, *, teacher_label: str | None,
             teacher_confidence: float | None) -> tuple[Any, ...]:
    """A ground-truth event joins the frozen gold set, with the teacher's answer pinned once."""
    assert event.label is not None
    label = encode(event.label)
    origin = str((event.metadata or {}).get("gold_source", "event"))
    return (event.event_id, text, label, category_of(spec, event.label) or label, origin, teacher_label,
            teacher_confidence, int(time.time() * 1000))


def gold_record(row: tuple[Any, ...], task: str, *, teacher_model: str | None = None, cost_usd: float = 0.0,
                prompt_tokens: int = 0, completion_tokens: int = 0, batch: bool = False) -> GoldExample:
    """The ``distill.gold`` record of a gold row (:func:`gold_row`'s tuple), with its pinning call's cost."""
    gold_id, text, label, category, origin, teacher_label, teacher_confidence, added_ms = row
    return GoldExample(task=task, gold_id=gold_id, input=text, label=label, category=category, origin=origin,
                       teacher_label=teacher_label, teacher_confidence=teacher_confidence,
                       teacher_model=teacher_model, cost_usd=cost_usd, prompt_tokens=prompt_tokens,
                       completion_tokens=completion_tokens, teacher_batch=batch, ts_ms=added_ms)
