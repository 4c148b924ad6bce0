"""Outcome counters of every worker: what happened to every record it read (streams: every event).

Every event ends in exactly one terminal outcome (stored, dead-lettered, sent to
review, or a counted skip), so ``sum`` over terminal outcomes equals events read.
Workers publish their counters to the compacted ``ops.counters`` topic keyed by
worker id; readers add the latest value of every key.

The key is stable, ``ROLE/NAME`` (``[distillery] worker_name``, by default the
host name, with ``-1``, ``-2``... for further processes of the role running on
the same host: :meth:`Counters.for_settings`), so a restart adds no key: the worker reads its key's last value
back at start (:func:`distillery.counters_topic.resume`) and its totals go on from
there. Keys no worker updated for ``counters_retention_days`` (a host gone, a
renamed worker) are ignored by readers (:func:`fresh`) and tombstoned by the
next worker that starts, so compaction removes them.

>>> c = Counters("streams")
>>> c.incr("transactions", "deadlettered"); c.incr("transactions", "valid", 2)
>>> c.total("valid"), c.snapshot()["counts"]["transactions"]["deadlettered"]
(2, 1)
"""

from __future__ import annotations

import fcntl
import socket
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from distillery.errors import ConfigError
from distillery.settings import Settings

DAY_MS = 86_400_000


def claim_slot(folder: Path, name: str, *, limit: int = 1024) -> tuple[int, IO[bytes]]:
    """The first slot ``i`` whose lock ``folder/name-i.lock`` this process could take; the open lock file.

    The lock (``flock``) lasts as long as the returned file stays open, i.e. the process.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for slot in range(limit):
        fh = (folder / f"{name}-{slot}.lock").open("ab")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        return slot, fh
    raise ConfigError(f"more than {limit} {name} workers on this host; set worker_name (DISTILLERY_WORKER_NAME)",
                      key="worker_name")


def worker_id_for(role: str, name: str | None = None) -> str:
    """The worker's key on ``ops.counters``: ``ROLE/NAME``, the host name when no name is given."""
    return f"{role}/{name or socket.gethostname()}"


class Counters:
    """Per-task outcome counts of one worker process."""

    def __init__(self, role: str, worker_id: str | None = None) -> None:
        self.role = role
        self.worker_id = worker_id or worker_id_for(role)
        self.started_ms = int(time.time() * 1000)
        self._counts: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(int))
        self._slot_lock: IO[bytes] | None = None
        self.resumed = False
        """True once the key's last published value was read back (or found absent): only then may it be published."""

    @classmethod
    def for_settings(cls, role: str, settings: Settings) -> Counters:
        """The counters of a worker of ``role`` named as the settings say (``worker_name``, else the host).

        Without a ``worker_name``, the process claims the first free slot of its
        role on this host (a lock file under the data dir, released when it
        exits): the first is ``ROLE/HOST``, a second one running beside it
        ``ROLE/HOST-1``, and so on, so processes of one host never share a key
        and a restarted one takes its slot (and key) back.
        """
        if settings.worker_name:
            return cls(role, worker_id_for(role, settings.worker_name))
        slot, lock = claim_slot(settings.data_dir / "workers", f"{settings.topic_prefix}{role}")
        host = socket.gethostname()
        counters = cls(role, worker_id_for(role, host if slot == 0 else f"{host}-{slot}"))
        counters._slot_lock = lock
        return counters

    def resume(self, previous: Mapping[str, Any] | None) -> None:
        """Add the counts this key last published (a previous run of this worker) to the current ones.

        Counting may have begun before the read-back finished; the two add up. Done once.
        """
        if self.resumed:
            return
        self.resumed = True
        for task, outcome, v in count_items(previous.get("counts") if isinstance(previous, Mapping) else None):
            self._counts[task][outcome] += v

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


def fresh(snapshot: Mapping[str, Any], *, now_ms: int, retention_days: float) -> bool:
    """Whether a key's latest snapshot was updated within the retention (always, when it is 0).

    >>> fresh({"updated_ms": 0}, now_ms=8 * DAY_MS, retention_days=7), fresh({}, now_ms=1, retention_days=0)
    (False, True)
    """
    if retention_days <= 0:
        return True
    updated = snapshot.get("updated_ms")
    if not isinstance(updated, int | float) or isinstance(updated, bool):
        return False
    return now_ms - updated <= retention_days * DAY_MS


def count_items(counts: Any) -> Iterator[tuple[str, str, float]]:
    """``(task, outcome, n)`` of a published ``counts`` value, skipping whatever is not a number.

    >>> list(count_items({"t": {"valid": 2, "odd": "x", "flag": True}, "u": 3}))
    [('t', 'valid', 2)]
    """
    if not isinstance(counts, Mapping):
        return
    for task, outcomes in counts.items():
        if isinstance(outcomes, Mapping):
            for outcome, v in outcomes.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    yield str(task), str(outcome), v
