"""Outcome counters of a streams worker: what happened to every event it read.

Every event ends in exactly one terminal outcome (stored, dead-lettered, sent to
review, or a counted skip), so ``sum`` over terminal outcomes equals events read.
Workers publish their counters to the compacted ``ops.counters`` topic keyed by
worker id; readers add the latest value of every key.

>>> c = Counters("streams")
>>> c.incr("transactions", "deadlettered"); c.incr("transactions", "valid", 2)
>>> c.total("valid"), c.snapshot()["counts"]["transactions"]["deadlettered"]
(2, 1)
"""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from typing import Any


class Counters:
    """Per-task outcome counts of one worker process."""

    def __init__(self, role: str, worker_id: str | None = None) -> None:
        self.role = role
        self.worker_id = worker_id or f"{role}/{socket.gethostname()}/{os.getpid()}/{int(time.time())}"
        self.started_ms = int(time.time() * 1000)
        self._counts: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(int))

    def incr(self, task: str, outcome: str, n: float = 1) -> None:
        self._counts[task][outcome] += n

    def get(self, task: str, outcome: str) -> float:
        counts = self._counts.get(task)
        return counts.get(outcome, 0) if counts is not None else 0

    def total(self, outcome: str) -> float:
        return sum(c.get(outcome, 0) for c in self._counts.values())

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view, the value published on ``ops.counters``."""
        counts = {t: {o: (int(v) if float(v).is_integer() else v) for o, v in c.items()}
                  for t, c in self._counts.items()}
        return {
            "worker_id": self.worker_id,
            "role": self.role,
            "started_ms": self.started_ms,
            "updated_ms": int(time.time() * 1000),
            "counts": counts,
        }


def merge(snapshots: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Sum the counts of several workers' latest snapshots, per task and outcome."""
    out: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    for snap in snapshots:
        for task, counts in snap.get("counts", {}).items():
            for outcome, v in counts.items():
                out[task][outcome] += v
    return {t: dict(c) for t, c in out.items()}
