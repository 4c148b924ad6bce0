"""Checkpoint files: a task's detector state, chart history and offsets, written atomically.

One file per task under ``DATA_DIR/monitors``. A checkpoint holds the
monitor's :meth:`~monitors.task_monitor.TaskMonitor.to_bytes` (which carries
the last offset seen on every partition) and its :class:`TaskStats`, so a
restarted worker skips records it already counted and neither forgets a level
nor raises an alarm twice. Writes go to a temporary file in the same folder,
are flushed to disk, then renamed over the old one: a crash leaves either the
old checkpoint or the new one, never half of one. A file that cannot be read
is moved aside (``.corrupt``) and the task starts afresh rather than the
worker failing at every start.

Replicas of the worker must share this folder (one volume) for a task that
moves to another replica on a rebalance to keep its state.

>>> import tempfile
>>> from monitors.task_monitor import TaskMonitor
>>> store = CheckpointStore(tempfile.mkdtemp())
>>> mon = TaskMonitor("transactions"); _ = mon.observe_teacher(rejected=False, agree=True)
>>> store.save(mon, TaskStats("transactions"))
>>> got = store.load("transactions")
>>> got.monitor.agreement.events_seen, got.stats.task
(1, 'transactions')
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from distillery.errors import InvalidInputError
from monitors.metrics import TaskStats
from monitors.task_monitor import TaskMonitor

log = logging.getLogger("distillery.monitors")

CHECKPOINT_FORMAT = 1
"""Version of the checkpoint file's layout."""


@dataclass
class Restored:
    """A task's monitor and stats as a checkpoint left them."""

    monitor: TaskMonitor
    stats: TaskStats
    saved_ms: int


class CheckpointStore:
    """Task checkpoints in one folder.

    Parameters
    ----------
    folder
        Where the files live (created if missing).
    prefix
        The deployment's topic prefix, so deployments sharing a folder keep apart.
    cooldown_events, bucket, points
        This process's alarm cooldown and chart settings, applied to what is loaded.
    """

    def __init__(self, folder: str | Path, *, prefix: str = "", cooldown_events: int = 2000,
                 bucket: int = 100, points: int = 500) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.cooldown_events = cooldown_events
        self.bucket = bucket
        self.points = points

    def path(self, task: str) -> Path:
        """The task's file; the name is quoted so any task name is a safe file name."""
        return self.folder / f"{quote(self.prefix + task, safe='')}.ckpt"

    def save(self, monitor: TaskMonitor, stats: TaskStats) -> None:
        """Write the task's checkpoint atomically (temporary file, fsync, rename)."""
        payload = pickle.dumps({
            "format": CHECKPOINT_FORMAT,
            "task": monitor.task,
            "saved_ms": int(time.time() * 1000),
            "monitor": monitor.to_bytes(),
            "stats": stats.state(),
        }, protocol=pickle.HIGHEST_PROTOCOL)
        target = self.path(monitor.task)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=target.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, task: str) -> Restored | None:
        """The task's last checkpoint; ``None`` when there is none or it is unreadable (moved aside)."""
        path = self.path(task)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = pickle.loads(data)
            if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
                raise InvalidInputError([f"format: expected checkpoint format {CHECKPOINT_FORMAT}, "
                                       f"got {doc.get('format') if isinstance(doc, dict) else type(doc).__name__!r}"])
            if doc.get("task") != task:
                raise InvalidInputError([f"task: the checkpoint is for {doc.get('task')!r}, not {task!r}"])
            monitor = TaskMonitor.from_bytes(doc["monitor"], cooldown_events=self.cooldown_events)
            stats = TaskStats(task, bucket=self.bucket, points=self.points)
            stats.load_state(doc["stats"])
        except Exception as exc:  # noqa: BLE001 - any unreadable file means: start this task afresh
            aside = path.with_suffix(".corrupt")
            os.replace(path, aside)
            log.error("checkpoint %s is unreadable (%s: %s); moved it to %s and starting %s afresh",
                      path, type(exc).__name__, str(exc)[:200], aside.name, task)
            return None
        return Restored(monitor, stats, int(doc.get("saved_ms", 0)))
