"""Ingest triage: raw message in, a valid event or a dead letter out (pure).

Input comes from other teams' services, so a bad event is ordinary input: it is
never raised, always answered with a :class:`DeadLetter` that carries the reason,
every problem found, where it came from and the original bytes (their first
bytes, size and SHA-256 when they are too large to carry whole: a letter always
fits in one produce request).
"""

from __future__ import annotations

import json
from collections.abc import Collection

from distillery.events import DeadLetter, InferenceEvent
from distillery.validation import parse_inference
from streams.source import Source

UNKNOWN_TASK = "_unknown"


def triage(
    value: bytes | None,
    key: bytes | None,
    source: Source,
    *,
    tasks: Collection[str],
    max_bytes: int,
) -> InferenceEvent | DeadLetter:
    """Validate one message; return the event, or the dead letter to publish instead."""
    parsed = parse_inference(value, tasks=tasks, max_bytes=max_bytes)
    if parsed.event is not None:
        return parsed.event
    task = UNKNOWN_TASK
    event_id = None
    if parsed.reason not in ("too_large", "not_utf8", "not_json", "empty"):
        # best effort: keep the task and id on the letter when they were readable
        try:
            doc = json.loads(value or b"")
            if isinstance(doc.get("task"), str) and doc["task"] in tasks:
                task = doc["task"]
            if isinstance(doc.get("event_id"), str):
                event_id = doc["event_id"][:512]
        except (ValueError, AttributeError, RecursionError):
            pass
    return DeadLetter.carrying(
        value,
        key,
        task=task,
        reason=parsed.reason,
        problems=parsed.problems,
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        event_id=event_id,
        stage="ingest",
    )
