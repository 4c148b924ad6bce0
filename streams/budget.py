"""Teacher spend limits per task: USD per hour and per day, on calendar windows.

Windows are *calendar* windows in UTC (12:00-12:59:59, midnight to midnight),
not rolling ones: they match how spend is reported and make "resumes at 13:00"
a plain statement. The price is a possible burst of two windows' worth across
a boundary, which an hourly cap a twentieth of the daily one keeps small.

A call *reserves* its estimated cost first and *settles* with the real cost
afterwards, so concurrent calls in flight cannot overshoot by more than their
estimation error. Once a reservation is refused the budget stays paused until
the window that ran out rolls over; the pause and the resume are reported once
each (:meth:`Budget.take_transitions`), never per event.

The spend table is the truth, not this object's memory: a worker that takes a
task (at start, or from another worker in a rebalance) reads back what the
current hour and day already spent (:meth:`Budget.restore`), so a restart does
not start the windows at zero. Spend that is not a sampling decision (pinning
the teacher's answer on new gold rows, which every gate needs) is charged as it
is paid (:meth:`Budget.charge`): it is never refused, but later sampling sees it.

>>> now = [0.0]
>>> b = Budget(per_hour=1.0, per_day=10.0, clock=lambda: now[0])
>>> b.reserve(0.9) is not None, b.reserve(0.2) is None
(True, True)
>>> [t.kind for t in b.take_transitions()], b.take_transitions()
(['paused'], [])
>>> b.reserve(0.0001) is None
True
>>> now[0] = 3600.0
>>> b.reserve(0.5) is not None, [t.kind for t in b.take_transitions()]
(True, ['resumed'])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from distillery.taskspec import TaskSpec

HOUR_S = 3600
DAY_S = 86400

Window = Literal["hour", "day"]


@dataclass(frozen=True)
class Reservation:
    """An estimated cost charged to the hour and day windows it was made in."""

    usd: float
    hour: int
    day: int


@dataclass(frozen=True)
class BudgetTransition:
    """The budget paused (a window is spent) or resumed (that window rolled over)."""

    kind: Literal["paused", "resumed"]
    window: Window
    spent_usd: float
    limit_usd: float
    resumes_at: float
    message: str


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Budget:
    """Hourly and daily USD caps for one task's teacher calls."""

    def __init__(
        self,
        per_hour: float,
        per_day: float,
        *,
        clock: Callable[[], float] = time.time,
        task: str = "",
    ) -> None:
        self.per_hour = per_hour
        self.per_day = per_day
        self.clock = clock
        self.task = task
        self._hour = -1
        self._day = -1
        self._spent_hour = 0.0
        self._spent_day = 0.0
        self._paused: tuple[Window, int] | None = None  # the spent window and its index
        self._pending: list[BudgetTransition] = []
        self.total_usd = 0.0

    @classmethod
    def for_task(cls, spec: TaskSpec, *, clock: Callable[[], float] = time.time) -> Budget:
        return cls(spec.sampling.budget_usd_per_hour, spec.sampling.budget_usd_per_day, clock=clock, task=spec.name)

    @property
    def spent_hour(self) -> float:
        """USD charged to the current hour window."""
        self._roll(self.clock())
        return self._spent_hour

    @property
    def spent_day(self) -> float:
        """USD charged to the current day window."""
        self._roll(self.clock())
        return self._spent_day

    @property
    def paused(self) -> bool:
        self._roll(self.clock())
        return self._paused is not None

    def reserve(self, usd: float) -> Reservation | None:
        """Charge ``usd`` if both windows can take it; ``None`` (and pause) when not."""
        now = self.clock()
        self._roll(now)
        if self._paused is not None:
            return None
        window: Window | None = None
        if self._spent_hour + usd > self.per_hour:
            window = "hour"
        elif self._spent_day + usd > self.per_day:
            window = "day"
        if window is not None:
            self._pause(window, now)
            return None
        self._spent_hour += usd
        self._spent_day += usd
        self.total_usd += usd
        return Reservation(usd, self._hour, self._day)

    def window_starts(self) -> tuple[float, float]:
        """Epoch seconds at which the current hour and day windows began."""
        now = self.clock()
        return float(int(now // HOUR_S) * HOUR_S), float(int(now // DAY_S) * DAY_S)

    def restore(self, hour_usd: float, day_usd: float) -> None:
        """Take the current hour and day windows' spend from the spend table (replacing what memory held).

        Called when a worker takes a task, before its first decision: nothing of
        the task is in flight then, so the table holds every paid call.

        >>> b = Budget(per_hour=1.0, per_day=10.0, clock=lambda: 7200.0)
        >>> b.restore(0.95, 4.0)
        >>> b.spent_hour, b.spent_day, b.reserve(0.1) is None
        (0.95, 4.0, True)
        """
        self._roll(self.clock())
        self._spent_hour = max(0.0, hour_usd)
        self._spent_day = max(0.0, day_usd)

    def charge(self, usd: float) -> None:
        """Count spend that was not reserved (never refused): later reservations see it."""
        self._roll(self.clock())
        self._spent_hour += max(0.0, usd)
        self._spent_day += max(0.0, usd)
        self.total_usd += max(0.0, usd)

    def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace the estimate with the real cost (``0.0`` when the call failed).

        The difference is applied only to windows still current: an estimate charged
        to a window that has since rolled over stays there.
        """
        self._roll(self.clock())
        delta = actual_usd - reservation.usd
        if reservation.hour == self._hour:
            self._spent_hour = max(0.0, self._spent_hour + delta)
        if reservation.day == self._day:
            self._spent_day = max(0.0, self._spent_day + delta)
        self.total_usd = max(0.0, self.total_usd + delta)

    def take_transitions(self) -> list[BudgetTransition]:
        """Pauses and resumes not yet reported, oldest first; each is returned once."""
        self._roll(self.clock())
        out, self._pending = self._pending, []
        return out

    def _pause(self, window: Window, now: float) -> None:
        index = self._hour if window == "hour" else self._day
        size = HOUR_S if window == "hour" else DAY_S
        spent, limit = (self._spent_hour, self.per_hour) if window == "hour" else (self._spent_day, self.per_day)
        self._paused = (window, index)
        resumes = (index + 1) * size
        who = f"task {self.task!r}: " if self.task else ""
        self._pending.append(BudgetTransition(
            "paused", window, spent, limit, resumes,
            f"{who}teacher budget per {window} spent (${spent:.4f} of ${limit:.2f}); "
            f"sampling paused until {_iso(resumes)}",
        ))

    def _roll(self, now: float) -> None:
        hour, day = int(now // HOUR_S), int(now // DAY_S)
        if hour != self._hour:
            self._hour, self._spent_hour = hour, 0.0
        if day != self._day:
            self._day, self._spent_day = day, 0.0
        if self._paused is not None:
            window, index = self._paused
            if (hour if window == "hour" else day) != index:
                self._paused = None
                who = f"task {self.task!r}: " if self.task else ""
                limit = self.per_hour if window == "hour" else self.per_day
                self._pending.append(BudgetTransition(
                    "resumed", window, 0.0, limit, now,
                    f"{who}new {window} window; teacher sampling resumed",
                ))
