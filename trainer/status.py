"""Where the job in hand stands: phase, step and loss, for people watching the worker.

Training takes minutes to hours; the worker publishes this with its counters on
``ops.counters`` every few seconds, so the demo's live view (or any dashboard)
shows progress instead of a silent "training".

>>> s = JobStatus("job-1", "transactions")
>>> s.enter("training"); s.on_step(3, 30, 1.25)
>>> snap = s.snapshot()
>>> snap["phase"], snap["step"], snap["max_steps"], snap["loss"], [p for p, _ in snap["phases"]]
('training', 3, 30, 1.25, ['loading', 'training'])
"""

from __future__ import annotations

import threading
import time
from typing import Any

from transformers import TrainerCallback


class JobStatus:
    """Progress of one job, written by the training thread and read by the event loop."""

    def __init__(self, job_id: str, task: str) -> None:
        self.job_id, self.task = job_id, task
        self.phase = "loading"
        self.step = 0
        self.max_steps = 0
        self.loss: float | None = None
        self.started_ms = int(time.time() * 1000)
        self.phases: list[tuple[str, int]] = [("loading", self.started_ms)]
        """Every phase entered and when: a reader who missed one still sees it happened."""
        self._lock = threading.Lock()

    def enter(self, phase: str) -> None:
        """Move to ``phase`` (loading, training, judging, publishing, done)."""
        with self._lock:
            self.phase = phase
            self.phases.append((phase, int(time.time() * 1000)))

    def on_step(self, step: int, max_steps: int, loss: float | None = None) -> None:
        with self._lock:
            self.step, self.max_steps = step, max_steps
            if loss is not None:
                self.loss = loss

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy."""
        with self._lock:
            return {"job_id": self.job_id, "task": self.task, "phase": self.phase, "step": self.step,
                    "max_steps": self.max_steps, "loss": self.loss, "started_ms": self.started_ms,
                    "phases": [list(p) for p in self.phases]}


class StatusCallback(TrainerCallback):
    """Copies the trainer's step count and latest loss into a :class:`JobStatus`."""

    def __init__(self, status: JobStatus) -> None:
        self.status = status

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.status.on_step(int(state.global_step), int(state.max_steps))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.status.on_step(int(state.global_step), int(state.max_steps), float(logs["loss"]))
