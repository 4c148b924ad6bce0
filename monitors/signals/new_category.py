"""The fast path for the commonest drift in classification: a new kind of request.

A category the reference never had, or had below ``floor`` of its answers,
that now takes a real share of traffic. :class:`CategoryMix` finds it too, but
spread over a whole mix's statistic; this signal tests it directly, per
tumbling window (``window`` answers, or ``window_s`` of event time): a
category below the floor in the reference, counted ``c`` times in a window of
``n``, fires when ``c`` is beyond what Poisson noise around ``n`` times an
upper bound of its true share explains at ``p_value`` and its share has grown
by at least ``min_share``. The bound is its reference share plus ``floor``
plus three standard errors of that share: with 500 examples a 0.5% category
is easily counted as absent, and a small reference must not make it news.
The same test on all such categories pooled (plus the Good-Turing estimate
of the mass the reference never saw: its singletons' share) catches several
arriving together, each too small alone (ten held-back intents at 2.5% each).

A firing names the categories (share in the reference and in the window).
Until the episode ends (``return_windows`` windows in a row without a pass,
or a new reference), a window fires again only when it names a category not
named yet: new categories arriving one at a time are each reported.
``estimate`` is the window's share of answers in below-floor categories.

>>> import random
>>> rng = random.Random(4)
>>> known = [f"k{i}" for i in range(8)]
>>> signal = NewCategory()
>>> signal.set_reference({k: 100 for k in known}, source="adapter a1")
>>> stream = rng.choices(known, k=1000) + rng.choices(known + ["refunds"], [1] * 8 + [1.5], k=1000)
>>> [i for i, c in enumerate(stream) if signal.update(c)]
[1199]
>>> signal.detail()["new"]
[{'category': 'refunds', 'share_reference': 0.0, 'share_live': 0.15}]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from distillery.errors import ConfigError
from monitors.severity import SeverityScale
from monitors.signals.base import Change, Signal
from monitors.signals.windows import CountWindow, poisson_sf


class NewCategory(Signal):
    """Categories below a floor in the reference taking a real share of a window (Poisson tail).

    Parameters
    ----------
    floor
        Reference share below which a category counts as new or rare.
    min_share
        Growth of its share (or the pooled share) that is worth an alarm.
    p_value
        Poisson tail probability a window must fall below.
    window, window_s, min_window
        Answers per window; event time that closes a window of at least ``min_window``.
    return_windows
        Windows in a row without a pass that end an episode.
    """

    detector_name: ClassVar[str] = "PoissonTail"
    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.05, critical=0.15, worse="up")

    def __init__(self, *, floor: float = 0.01, min_share: float = 0.03, p_value: float = 1e-9, window: int = 200,
                 window_s: float = 86_400.0, min_window: int = 30, return_windows: int = 3) -> None:
        if not 0.0 < floor < 1.0 or not 0.0 < min_share < 1.0 or not 0.0 < p_value < 1.0:
            raise ConfigError(f"new_category floor, min_share and p_value must be in (0, 1), got {floor!r}, "
                              f"{min_share!r} and {p_value!r}")
        self.name = "new_category"
        self.floor = floor
        self.min_share = min_share
        self.p_value = p_value
        self.return_windows = return_windows
        self.windows = CountWindow(window, seconds=window_s, min_size=min_window)
        self.events_seen = 0
        self.last_change: Change | None = None
        self.reference_source = "none"
        self.named: set[str] = set()
        self._shares: dict[str, float] | None = None
        self._total = 0.0
        self._unseen = 0.0
        self._misses = 0
        self._level: float | None = None
        self._fired = False
        self._detail: dict[str, Any] = {}

    def set_reference(self, counts: Mapping[str, int | float], *, source: str = "adapter") -> None:
        """Test against this mix from now on; ends any episode."""
        total = sum(v for v in counts.values() if v > 0)
        self._shares = {k: v / total for k, v in counts.items() if v > 0} if total else {}
        self._total = float(total)
        # Good-Turing: the mass of categories a sample this size has not seen is about its singletons' share
        self._unseen = sum(1 for v in counts.values() if 0 < v <= 1) / total if total else 1.0
        self.reference_source = source
        self.named = set()
        self._misses = 0
        self.windows.close()

    def update(self, x: str, t_ms: int | None = None) -> bool:
        """Count one answer's category; the test runs when a window closes."""
        self._fired = False
        self.events_seen += 1
        if self._shares is None:
            return False
        counts = self.windows.add(x, t_ms)
        return False if counts is None else self._test(counts)

    def _test(self, counts: dict[str, int]) -> bool:
        shares, floor = self._shares or {}, self.floor
        n = sum(counts.values())
        rare = {k: c for k, c in counts.items() if shares.get(k, 0.0) < floor}
        pooled = sum(rare.values())
        pooled_ref = sum(shares.get(k, 0.0) for k in rare)
        self._level = pooled / n
        hits = [k for k, c in rare.items()
                if c / n - shares.get(k, 0.0) >= self.min_share
                and poisson_sf(c, n * self._bound(shares.get(k, 0.0))) < self.p_value]
        pooled_pass = (pooled / n - pooled_ref >= self.min_share
                       and poisson_sf(pooled, n * (self._bound(pooled_ref) + self._unseen)) < self.p_value)
        if not hits and not pooled_pass:
            self._misses += 1
            if self._misses >= self.return_windows:
                self.named = set()
            return False
        self._misses = 0
        group = [k for k, c in rare.items() if c / n - shares.get(k, 0.0) >= floor] if pooled_pass else []
        # a pooled pass opens an episode naming the group; later, only a category passing alone is news
        fresh = set(hits) - self.named if self.named else set(hits) | set(group)
        if not fresh:
            return False
        self.named |= fresh
        hits = sorted(set(hits) | set(group))
        order = sorted(hits, key=lambda k: (-rare[k], k))
        self._detail = {
            "reference": self.reference_source,
            "window": n,
            "new": [{"category": k, "share_reference": round(shares.get(k, 0.0), 4),
                     "share_live": round(rare[k] / n, 4)} for k in order[:10]],
        }
        self.last_change = Change(before=pooled_ref, after=pooled / n, at=self.events_seen)
        self._fired = True
        return True

    def _bound(self, share: float) -> float:
        """A generous upper bound of the true share behind a reference share: floor plus 3 standard errors."""
        total = max(self._total, 1.0)
        return share + self.floor + 3.0 * math.sqrt(max(share, 1.0 / total) / total)

    @property
    def drift_detected(self) -> bool:
        return self._fired

    @property
    def estimate(self) -> float | None:
        return self._level

    def detail(self) -> dict[str, Any]:
        return dict(self._detail)

    def __repr__(self) -> str:
        return f"NewCategory(events_seen={self.events_seen}, reference={self.reference_source!r}, named={self.named})"
