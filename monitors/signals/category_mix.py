"""Mix of answer categories: does any category's share move away from the reference?

Why windows and not one detector per category: with 43 categories, a binary
detector per category costs 43 updates per event (well over the per-event
budget) and 43 chances of a false alarm, and a shift spread thinly over many
categories moves none of them enough. Instead, answers are counted in
tumbling windows of ``window`` events, and each window is compared to a
reference mix (all earlier windows since the last alarm, fading over
``memory_windows``) by the Freeman-Tukey statistic
``4 * sum((sqrt(observed) - sqrt(expected))**2)``. It weighs a rare category
that triples about as much as a large one that halves, and unlike Pearson's
chi-square one stray answer in a category the reference barely knows cannot
blow it up. The statistic is standardised by its own mean and spread on
past windows (so one threshold fits 5 or 500 categories) and fed to river's
PageHinkley in ``"up"`` mode: a cumulative test, so a moderate shift builds
up over a few windows, while stationary noise, whose excess is eaten by
``delta`` each window, practically never reaches ``threshold``. PageHinkley
runs without forgetting (``alpha=1``, a plain CUSUM): with river's default
forgetting its statistic wanders slowly and fired about 0.5 times per million
stationary events; without it, none in 50 million (``bench/drift_bench.py``
settings: 43 Zipf-distributed categories). A 0.20 move of the mix is found
in 300-900 events.

After an alarm the new mix becomes the reference. ``estimate`` is the total
variation distance between the last window and the reference (0 = same mix,
1 = disjoint); :meth:`CategoryMix.detail` names the categories that moved most.

>>> import random
>>> rng = random.Random(11)
>>> cats = [f"c{i}" for i in range(10)]
>>> before = [20, 15, 12, 10, 10, 9, 8, 7, 5, 4]
>>> after = [20, 15, 12, 10, 10, 9, 8, 7, 5, 29]    # c9: 4% of answers -> 23%
>>> stream = rng.choices(cats, before, k=8000) + rng.choices(cats, after, k=2000)
>>> signal = CategoryMix()
>>> [i for i, c in enumerate(stream) if signal.update(c)]
[8199]
>>> signal.detail()["moved"][0]
{'category': 'c9', 'share_before': 0.0411, 'share_after': 0.23}
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from river.drift import PageHinkley

from distillery.errors import ConfigError
from monitors.severity import SeverityScale
from monitors.signals.base import Change, Signal

OTHER = "__other__"
"""Where answers go once ``max_categories`` distinct ones are known (a free-text student)."""

_SMOOTH = 0.5
"""Pseudo-count per category, so a category new to the reference has a finite expectation."""


class _Spread:
    """Running mean and variance (Welford) of the window statistic."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self._m2 += d * (x - self.mean)

    @property
    def sd(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else 0.0


class CategoryMix(Signal):
    """Windowed Freeman-Tukey distance of the answer mix, fed to PageHinkley.

    Parameters
    ----------
    window
        Answers per tumbling window (one detector update per window).
    delta, threshold
        PageHinkley's allowance per window and alarm level, in standard deviations.
    warmup_windows
        Windows the reference needs before windows are tested against it.
    calibration_windows
        Windows that measure the statistic's spread before the first test.
    memory_windows
        The reference fades by ``1 - 1/memory_windows`` per window.
    max_categories
        Distinct categories kept; later new ones are pooled as ``__other__``.
    """

    detector_name: ClassVar[str] = "PageHinkley"
    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.1, critical=0.25, worse="up")
    tracks_level: ClassVar[bool] = False

    def __init__(
        self,
        *,
        window: int = 200,
        delta: float = 1.0,
        threshold: float = 8.0,
        warmup_windows: int = 10,
        calibration_windows: int = 20,
        memory_windows: int = 500,
        max_categories: int = 1000,
    ) -> None:
        for key, value in (("window", window), ("warmup_windows", warmup_windows),
                           ("memory_windows", memory_windows), ("max_categories", max_categories)):
            if value < 1:
                raise ConfigError(f"category_mix {key} must be >= 1, got {value!r}; use a positive count")
        if calibration_windows < 2:
            raise ConfigError(
                f"category_mix calibration_windows must be >= 2 to measure a spread, got {calibration_windows!r}"
            )
        self.name = "category_mix"
        self.window = window
        self.warmup_windows = warmup_windows
        self.calibration_windows = calibration_windows
        self.memory_windows = memory_windows
        self.max_categories = max_categories
        self.detector = PageHinkley(min_instances=5, delta=delta, threshold=threshold, alpha=1.0, mode="up")
        self.events_seen = 0
        self.last_change: Change | None = None
        self._counts: dict[str, int] = {}
        self._in_window = 0
        self._reference: dict[str, float] = {}
        self._ref_total = 0.0
        self._ref_windows = 0
        self._spread = _Spread()
        self._tv = _Spread()
        self._last_tv: float | None = None
        self._fired = False
        self._detail: dict[str, Any] = {}

    def update(self, x: str) -> bool:
        """Count one answer's category; the detector runs when a window fills."""
        self._fired = False
        counts = self._counts
        if x not in counts and x not in self._reference and len(self._reference) >= self.max_categories:
            x = OTHER
        counts[x] = counts.get(x, 0) + 1
        self.events_seen += 1
        self._in_window += 1
        if self._in_window < self.window:
            return False
        return self._close_window()

    @property
    def drift_detected(self) -> bool:
        return self._fired

    @property
    def estimate(self) -> float | None:
        return self._last_tv

    def detail(self) -> dict[str, Any]:
        return dict(self._detail)

    def set_reference(self, counts: dict[str, int]) -> None:
        """Compare against a known mix (e.g. the training window's labels) from now on."""
        self._reference = {k: float(v) for k, v in counts.items() if v > 0}
        self._ref_total = sum(self._reference.values())
        self._ref_windows = max(self.warmup_windows, round(self._ref_total / self.window))

    # ------------------------------------------------------------------ windows
    def _close_window(self) -> bool:
        counts, self._counts, self._in_window = self._counts, {}, 0
        if self._ref_windows < self.warmup_windows:
            self._absorb(counts)
            return False
        stat, tv = self._distance(counts)
        self._last_tv = tv
        spread = self._spread
        if spread.n < self.calibration_windows:
            spread.add(stat)
            self._tv.add(tv)
            self._absorb(counts)
            return False
        sd = max(spread.sd, 1e-9)
        self.detector.update((stat - spread.mean) / sd)
        if self.detector.drift_detected:
            self._fire(counts, tv)
            return True
        # winsorised, so the first windows of a shift on its way do not widen the yardstick
        spread.add(min(stat, spread.mean + 4 * sd))
        self._tv.add(tv)
        self._absorb(counts)
        return False

    def _distance(self, counts: dict[str, int]) -> tuple[float, float]:
        """Freeman-Tukey statistic and total variation distance of a window vs the reference."""
        ref, n = self._reference, self.window
        keys = ref.keys() | counts.keys()
        denom = self._ref_total + _SMOOTH * len(keys)
        ft = 0.0
        tv = 0.0
        for key in keys:
            p = (ref.get(key, 0.0) + _SMOOTH) / denom
            o = counts.get(key, 0)
            ft += (math.sqrt(o) - math.sqrt(n * p)) ** 2
            tv += abs(o / n - p)
        # a reference only a few windows long is itself noisy; shrink so its noise is not read as drift
        return 4.0 * ft * self._ref_total / (self._ref_total + n), tv / 2.0

    def _absorb(self, counts: dict[str, int]) -> None:
        ref = self._reference
        if self._ref_windows >= self.warmup_windows:
            fade = 1.0 - 1.0 / self.memory_windows
            for key in ref:
                ref[key] *= fade
            self._ref_total *= fade
        for key, c in counts.items():
            ref[key] = ref.get(key, 0.0) + c
        self._ref_total += self.window
        self._ref_windows += 1

    def _fire(self, counts: dict[str, int], tv: float) -> None:
        ref, total, n = self._reference, self._ref_total, self.window
        moves = sorted(
            ((abs(counts.get(k, 0) / n - ref.get(k, 0.0) / total), k) for k in ref.keys() | counts.keys()),
            reverse=True,
        )
        self._detail = {
            "window": n,
            "moved": [
                {"category": k, "share_before": round(ref.get(k, 0.0) / total, 4),
                 "share_after": round(counts.get(k, 0) / n, 4)}
                for _, k in moves[:3]
            ],
        }
        self.last_change = Change(before=self._tv.mean if self._tv.n else None, after=tv, at=self.events_seen)
        self._fired = True
        # the new mix is the reference from here on; the statistic's spread carries over
        self._reference = {}
        self._ref_total = 0.0
        self._ref_windows = 0
        self._tv = _Spread()
        self._absorb(counts)

    def __repr__(self) -> str:
        return f"CategoryMix(events_seen={self.events_seen}, categories={len(self._reference)}, estimate={self.estimate})"
