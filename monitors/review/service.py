"""What the review page and the CLI both do: show the next item, send a decision, count.

A decision is produced to ``distill.reviewed`` (and acknowledged) before its item
is closed in the queue, so a crash between the two leaves the item leased, never
a decision lost; the feeder closes it anyway when it reads the decision back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from distillery.events import ReviewDecision, ReviewVerdict
from distillery.settings import Settings
from monitors.review.queue import QueueItem, ReviewQueue

Send = Callable[[ReviewDecision], Awaitable[None]]
"""Produce one decision to ``distill.reviewed`` and wait for Kafka's ack."""


class ReviewService:
    """The queue plus the way decisions leave it."""

    def __init__(self, settings: Settings, queue: ReviewQueue, send: Send) -> None:
        self.settings = settings
        self.queue = queue
        self.send = send

    def view(self, item: QueueItem) -> dict[str, Any]:
        """An item with what the reviewer needs to decide: the task's kind, label set or schema."""
        spec = self.settings.task(item.task)
        return {**item.as_json(), "kind": spec.kind, "labels": list(spec.labels),
                "output_schema": spec.output_schema, "min_confidence": spec.teacher.min_confidence}

    def next(self, reviewer: str, task: str | None = None) -> dict[str, Any] | None:
        item = self.queue.next(reviewer, task=task)
        return self.view(item) if item is not None else None

    async def decide(self, task: str, item_id: str, reviewer: str, decision: ReviewVerdict, answer: Any = None,
                     *, tool: str) -> ReviewDecision:
        """Check, produce and close one decision; :class:`~distillery.errors.ReviewError` when it is refused."""
        record = self.queue.decide(task, item_id, reviewer, decision, answer, tool=tool)
        await self.send(record)
        self.queue.mark(record)
        return record

    def stats(self, task: str | None = None) -> dict[str, Any]:
        return self.queue.stats(task=task)
