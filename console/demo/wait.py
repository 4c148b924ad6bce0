"""When the demo stops waiting for its train jobs, once the traffic has ended.

A fixed wait is a guess about the machine: on two busy cores a warm-started job
over the demo's later windows needs about 15 minutes, on a GPU under one. So by
default the demo waits while the jobs in flight move, a step or a phase at a
time, and stops when every job has its verdict, or when none has moved for
``stall_s`` (something is stuck: the note says so), with ``cap_s`` as the last
guard. ``--train-wait`` sets a fixed wait instead.

>>> wait = JobWait(started=0.0, fixed_s=None, stall_s=300.0, cap_s=2400.0)
>>> wait.check(10.0, jobs=["j1"], done=set(), progress={"j1": ("training", 5)})  # moving
>>> wait.check(100.0, jobs=["j1"], done=set(), progress={"j1": ("training", 40)})
>>> wait.check(130.0, jobs=["j1"], done={"j1"}, progress={"j1": ("publishing", 40)})
'every train job has its verdict'
>>> stuck = JobWait(started=0.0, fixed_s=None, stall_s=300.0, cap_s=2400.0)
>>> stuck.check(10.0, jobs=["j1"], done=set(), progress={"j1": ("training", 5)})
>>> stuck.check(311.0, jobs=["j1"], done=set(), progress={"j1": ("training", 5)})
'no train job moved for 300 s (1 still without a verdict)'
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence

SETTLE_S = 20.0
"""Triggers that the last traffic caused reach the jobs topic within this long."""


class JobWait:
    """Decides, poll by poll, whether the wait for train jobs is over.

    Parameters
    ----------
    started
        When the wait began (``time.monotonic()``, the end of the traffic).
    fixed_s
        A fixed wait (``--train-wait``): the jobs' progress is not watched, only
        their verdicts. ``None`` waits while they move.
    stall_s
        With no fixed wait: stop when no job in flight has moved for this long.
    cap_s
        With no fixed wait: stop after this long whatever the jobs do.
    until_verdicts
        Stop once every job seen has its verdict (the short demo has its own end instead).
    """

    def __init__(self, *, started: float, fixed_s: float | None, stall_s: float, cap_s: float,
                 until_verdicts: bool = True) -> None:
        self.started = started
        self.fixed_s = fixed_s
        self.stall_s = stall_s
        self.cap_s = cap_s
        self.until_verdicts = until_verdicts
        self.moved_at = started
        self._last: object = None

    def extend(self, now: float, seconds: float) -> None:
        """Something else ran meanwhile (the serving phase): give the jobs ``seconds`` more from ``now``."""
        self.moved_at = max(self.moved_at, now)
        if self.fixed_s is not None:
            self.fixed_s = max(self.fixed_s, now + seconds - self.started)
        self.cap_s = max(self.cap_s, now + seconds - self.started)

    def check(self, now: float, *, jobs: Sequence[str], done: Collection[str],
              progress: Mapping[str, Hashable]) -> str | None:
        """``None`` to keep waiting, else why the wait is over.

        ``jobs`` are the train jobs seen so far, ``done`` those with a verdict and
        ``progress`` each job's latest (phase, step) from the trainer.
        """
        waiting = [j for j in jobs if j not in done]
        settled = now - self.started >= SETTLE_S
        if self.until_verdicts and jobs and not waiting and settled:
            return "every train job has its verdict"
        signature = (len(jobs), len(done), tuple(progress.get(j) for j in waiting))
        if self._last is not None and signature != self._last:
            self.moved_at = now
        self._last = signature
        if self.fixed_s is not None:
            return f"the fixed {self.fixed_s / 60:.0f}-minute wait is over" \
                if now - self.started >= self.fixed_s else None
        if now - self.started >= self.cap_s:
            return f"the {self.cap_s / 60:.0f}-minute cap on the wait is over ({len(waiting)} without a verdict)"
        if now - self.moved_at >= self.stall_s and settled:
            what = f"{len(waiting)} still without a verdict" if waiting else "no job was triggered"
            return f"no train job moved for {self.stall_s:.0f} s ({what})"
        return None
