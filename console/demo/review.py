"""The demo's reviewer: a simulated person works through the review queue while traffic flows.

It reads the same queue file the monitors worker materialises (SQLite, shared
between processes), leases items like the review page does, decides them with
:class:`~devkit.sim.reviewer.SimReviewer` and sends each decision to
``distill.reviewed``, where the streams worker applies it. The teacher's blind
spot (confidently wrong, so never sent for review as unsure) comes to it through
audit items, and the run's summary shows the teacher's error rate per category
as the reviewer found it. A failure here is noted and never stops the demo.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from distillery.errors import ReviewError
from distillery.events import ReviewDecision
from distillery.settings import Settings

log = logging.getLogger("console.demo")

REVIEWER = "demo-reviewer"


class ReviewLoop:
    """Decides up to ``per_s`` items a second in a thread, until :meth:`stop`."""

    def __init__(self, settings: Settings, task: str, *, per_s: float = 2.0) -> None:
        self.settings = settings
        self.task = task
        self.per_s = per_s
        self.decided = 0
        self.refused = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-reviewer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # the demo goes on without its reviewer
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("demo reviewer stopped")

    async def _main(self) -> None:
        from devkit.sim.reviewer import SimReviewer
        from distillery.kafka import make_producer, send_record
        from monitors.review.queue import ReviewQueue
        from monitors.review.service import ReviewService

        producer = make_producer(self.settings)
        await producer.start()
        try:
            async def send(d: ReviewDecision) -> None:
                await send_record(producer, self.settings, d)

            service = ReviewService(self.settings, ReviewQueue.for_settings(self.settings), send)
            person = SimReviewer()
            while not self._stop.is_set():
                item: dict[str, Any] | None = await asyncio.to_thread(service.next, REVIEWER, self.task)
                if item is None:
                    await asyncio.sleep(1.0)
                    continue
                verdict, answer = person.verdict(item)
                try:
                    await service.decide(self.task, item["item_id"], REVIEWER, verdict, answer, tool="demo")
                    self.decided += 1
                except ReviewError as exc:
                    self.refused += 1
                    log.info("demo reviewer: %s", exc)
                    await asyncio.to_thread(service.queue.release, self.task, item["item_id"], REVIEWER)
                await asyncio.sleep(1.0 / self.per_s)
        finally:
            await producer.stop()

    def lines(self) -> list[str]:
        """The summary: what the reviewer did and the teacher's error rate it found, worst first."""
        if self.error:
            return [f"review: the simulated reviewer stopped ({self.error})"]
        from monitors.review.queue import ReviewQueue

        stats = ReviewQueue.for_settings(self.settings).stats(task=self.task)[self.task]
        worst = sorted(stats["disagreement"].items(), key=lambda kv: (-kv[1]["teacher_error_rate"], kv[0]))[:3]
        found = ", ".join(f"{c} {d['teacher_error_rate']:.0%} of {d['reviewed']}" + _instead(d) for c, d in worst
                          if d["disagreed"]) or "none"
        return [f"review: a simulated reviewer decided {stats['decided']} items ({stats['by_decision']}), "
                f"{stats['open']} still open; teacher error rate found: {found}"]


def _instead(stats: dict[str, Any]) -> str:
    """`` (people said dental_vision 9)``: where the teacher's answers in a category really belonged."""
    said = list(stats.get("people_said", {}).items())[:2]
    return f" (people said {', '.join(f'{a} {n}' for a, n in said)})" if said else ""
