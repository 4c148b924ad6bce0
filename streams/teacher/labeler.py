"""Ask the teacher for a batch of labels, riding out outages.

An outage is not a reason to drop sampled events: while the teacher is down (the
circuit breaker is open), the batch waits and the Kafka backlog grows; it drains
when the teacher is back. Answers the teacher cannot give at all (a malformed
body, a refused request) come back as errors, each bound for the review table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from distillery.errors import TeacherError, TeacherUnavailableError
from streams.teacher.client import TeacherClient
from streams.teacher.completions import TeacherResult

log = logging.getLogger("distillery.streams.teacher")

OUTAGE_POLL_S = 2.0


@dataclass(frozen=True)
class Labeled:
    """The teacher's result for one input, or why there is none."""

    result: TeacherResult | None
    error: str | None = None


async def label_all(client: TeacherClient, texts: Sequence[str], *, stop: asyncio.Event | None = None) -> list[Labeled]:
    """Label every text (concurrency bounded by the client); wait out outages."""
    outage_logged = False

    async def one(text: str) -> Labeled:
        nonlocal outage_logged
        while True:
            try:
                return Labeled(await client.label(text))
            except TeacherUnavailableError as exc:
                if not outage_logged:
                    log.warning("teacher unavailable, holding the batch until it answers: %s", exc)
                    outage_logged = True
                if stop is not None and stop.is_set():
                    raise
                await asyncio.sleep(OUTAGE_POLL_S)
            except TeacherError as exc:
                return Labeled(None, f"teacher_error: {exc}"[:500])

    results = list(await asyncio.gather(*(one(t) for t in texts)))
    if outage_logged:
        log.warning("teacher answers again; the held batch of %d is labeled", len(texts))
    return results
