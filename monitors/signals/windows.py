"""Tumbling windows of answers, closed by count or by time, and the Poisson tail they are tested with.

High volume fills a window of ``size`` events in seconds; low volume (a few
hundred events a day) would take days to, so a window also closes once
``seconds`` of event time have passed since it opened, provided it holds at
least ``min_size`` events (fewer make no test worth its false alarms). Event
time, not the wall clock: a replay of last week's logs closes the windows last
week's traffic would have.

>>> w = CountWindow(size=3, seconds=60.0, min_size=2)
>>> [w.add("a", t_ms=0), w.add("b", t_ms=1_000), w.add("a", t_ms=2_000)]
[None, None, {'a': 2, 'b': 1}]
>>> [w.add("a", t_ms=3_000), w.add("b", t_ms=70_000)]
[None, {'a': 1, 'b': 1}]
>>> round(poisson_sf(10, 2.0), 6)
4.6e-05
"""

from __future__ import annotations

import math

from distillery.errors import ConfigError


def poisson_sf(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu), summed over the upper tail (accurate far out in it)."""
    if k <= 0:
        return 1.0
    if mu <= 0.0:
        return 0.0
    log_mu = math.log(mu)
    total = 0.0
    j = k
    while True:
        term = math.exp(j * log_mu - mu - math.lgamma(j + 1))
        total += term
        if j > mu and term < total * 1e-12:
            return min(total, 1.0)
        j += 1


class CountWindow:
    """Counts per key in a tumbling window; :meth:`add` returns the counts when the window closes.

    Parameters
    ----------
    size
        Events that close a window.
    seconds
        Event time that closes a window holding at least ``min_size`` events (0: by count only).
    min_size
        Fewest events a window closed by time may hold.
    """

    def __init__(self, size: int, *, seconds: float = 0.0, min_size: int = 30) -> None:
        if size < 1 or min_size < 1:
            raise ConfigError(f"window size and min_size must be >= 1, got {size!r} and {min_size!r}")
        if seconds < 0:
            raise ConfigError(f"window seconds must be >= 0, got {seconds!r}; use 0 to close by count only")
        self.size = size
        self.seconds = seconds
        self.min_size = min(min_size, size)
        self.counts: dict[str, int] = {}
        self.n = 0
        self.opened_ms: int | None = None

    def add(self, key: str, t_ms: int | None = None) -> dict[str, int] | None:
        """Count one event; the window's counts when this event closed it, else None."""
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        self.n += 1
        if t_ms is not None and self.opened_ms is None:
            self.opened_ms = t_ms
        if self.n >= self.size or (
            self.seconds and t_ms is not None and self.n >= self.min_size
            and self.opened_ms is not None and t_ms - self.opened_ms >= self.seconds * 1000.0
        ):
            return self.close()
        return None

    def close(self) -> dict[str, int]:
        """The counts so far; the next event opens a new window."""
        counts, self.counts, self.n, self.opened_ms = self.counts, {}, 0, None
        return counts
