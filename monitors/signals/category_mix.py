"""Mix of answer categories: does live traffic still have the mix the serving student learned?

The reference is a set of category counts: the serving adapter's training
labels (:meth:`CategoryMix.set_reference`), or, before any adapter, a short
warm-up on live answers (``warmup_per_category`` answers per category seen,
between ``warmup_min`` and ``warmup_max``). There is no calibration period:
every window after the reference is known is tested against it.

Each tumbling window (``window`` answers, or ``window_s`` of event time once it
holds ``min_window``; :class:`~monitors.signals.windows.CountWindow`) is
compared with the reference by the Freeman-Tukey statistic
``4 * sum((sqrt(observed) - sqrt(expected))**2)`` over the reference's
categories plus one cell pooling every category the reference lacks. It weighs
a rare category that triples about as much as a large one that halves, and one
stray answer in a category the reference barely knows cannot blow it up. Its
null distribution is not assumed (with 77 categories and 200 answers most
cells are far too sparse for a chi-square approximation) but simulated once
per reference and window size, seeded: a reference sample and a window both
drawn from the reference mix, so the reference's own sampling noise (a 500
example snapshot is a noisy mix) is part of what counts as normal. The window's
statistic, standardised by that simulated mean and spread, feeds a one-sided
CUSUM ``S = max(0, S + z - delta - 2 * bias)`` that fires at ``threshold``: a
moderate shift builds up over a few windows, stationary noise is eaten by
``delta``, each window's ``z`` is capped at 6 so that one freak window (the
statistic's tail is heavy with few categories) cannot fire alone, and ``bias`` (:func:`simulate_null`) allows for a reference whose own
sampling noise stays in every comparison: a snapshot of 500 answers over 77
categories needs a larger move than one of 5,000.

A firing opens an episode: the signal stays quiet while the mix stays moved
and the episode ends when traffic returns (``return_windows`` windows in a row
with ``z <= 1``) or when a new reference is set (a retrained adapter serves).
The signal also remembers the recent traffic mix (:meth:`CategoryMix.traffic_mix`,
restarted at a firing from the answers since the change): the mix an adapter
trained now has learned, which becomes the reference when it serves.
A warm-up reference keeps absorbing quiet windows, up to ``max_reference``
answers; an adapter's reference is fixed. ``estimate`` is the total variation
distance between the last window and the reference. A firing's change runs
from the distance sampling noise alone would give (simulated) to the one
observed on the answers since the CUSUM began to rise, and
:meth:`CategoryMix.detail` names the categories that moved on those answers,
with their shares in the reference and in the traffic.

>>> import random
>>> rng = random.Random(11)
>>> cats = [f"c{i}" for i in range(10)]
>>> before = [20, 15, 12, 10, 10, 9, 8, 7, 5, 4]
>>> after = [20, 15, 12, 10, 10, 9, 8, 7, 5, 29]    # c9: 4% of answers -> 23%
>>> signal = CategoryMix()
>>> signal.set_reference(dict(zip(cats, [10 * b for b in before])), source="adapter a1")
>>> stream = rng.choices(cats, before, k=2000) + rng.choices(cats, after, k=2000)
>>> [i for i, c in enumerate(stream) if signal.update(c)]
[2199]
>>> signal.detail()["moved"][0]
{'category': 'c9', 'share_reference': 0.04, 'share_live': 0.24}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from distillery.errors import ConfigError
from monitors.severity import SeverityScale
from monitors.signals.base import Change, Signal
from monitors.signals.windows import CountWindow

OTHER = "__other__"
"""Where answers go once ``max_categories`` distinct ones are known (a free-text student)."""

UNSEEN = "__unseen__"
"""The cell pooling, in a window, every category the reference lacks."""

_SMOOTH = 0.5
"""Pseudo-count per category, so a category new to the reference has a finite expectation."""

_Z_CAP = 6.0
"""Most evidence one window adds to the CUSUM: at the default threshold, a firing takes two windows."""


def window_for(categories: int) -> int:
    """Answers per window for a reference with this many categories: 3 per category, 100 to 400.

    >>> window_for(5), window_for(77), window_for(500)
    (100, 231, 400)
    """
    return min(400, max(100, 3 * categories))


def freeman_tukey(window: Mapping[str, int], reference: Mapping[str, float]) -> tuple[float, float, int]:
    """Freeman-Tukey statistic and total variation distance of a window against reference counts.

    Categories the reference lacks share one smoothed cell. Returns the two and the window's size.

    >>> [round(v, 2) for v in freeman_tukey({"a": 50, "b": 50}, {"a": 500.0, "b": 500.0})]
    [0.2, 0.0, 100]
    >>> [round(v, 2) for v in freeman_tukey({"a": 20, "b": 50, "z": 30}, {"a": 500.0, "b": 500.0})]
    [137.39, 0.3, 100]
    """
    n = sum(window.values())
    denom = sum(reference.values()) + _SMOOTH * (len(reference) + 1)
    ft = 0.0
    tv = 0.0
    inside = 0
    for key, r in reference.items():
        p = (r + _SMOOTH) / denom
        o = window.get(key, 0)
        inside += o
        ft += (math.sqrt(o) - math.sqrt(n * p)) ** 2
        tv += abs(o / n - p)
    p = _SMOOTH / denom
    o = n - inside
    ft += (math.sqrt(o) - math.sqrt(n * p)) ** 2
    tv += abs(o / n - p)
    return 4.0 * ft, tv / 2.0, n


def simulate_null(reference: Mapping[str, float], n: int, *, sims: int = 400,
                  seed: int = 0) -> tuple[float, float, float, float]:
    """The yardstick of :func:`freeman_tukey` when nothing changed, simulated (seeded).

    Reference samples of the reference's size and windows of ``n`` are drawn
    from the (smoothed) reference mix, ``sims // 20`` references with 20
    windows each. Returns the statistic's mean and spread, the mean distance,
    and the reference's *bias*: how far, in spreads, the expected statistic of
    one reference sample strays from the mean (the spread between references
    of their own mean statistic). One reference is compared with every window,
    so its noise does not average out over windows: the CUSUM's allowance grows
    by that bias, which is large for a small reference of many categories and
    negligible for a large one. Simulated references come from the reference's
    own sparse mix and understate that spread when the true mix has a tail the
    sample missed (77 categories, 500 examples: 0.14 simulated, about 0.45 seen),
    so the bias is at least ``n / N``, the scale of the reference's part of the noise.
    """
    counts = np.array([*reference.values(), 0.0], dtype=float)
    total = int(round(counts.sum()))
    k = len(counts)
    p = (counts + _SMOOTH) / (counts.sum() + _SMOOTH * k)
    rng = np.random.default_rng(seed)
    refs, per = max(sims // 20, 2), 20
    ref = np.repeat(rng.multinomial(max(total, 1), p, size=refs).astype(float), per, axis=0)
    win = rng.multinomial(n, p, size=refs * per).astype(float)
    p_star = (ref + _SMOOTH) / (ref.sum(axis=1, keepdims=True) + _SMOOTH * k)
    stat = 4.0 * ((np.sqrt(win) - np.sqrt(n * p_star)) ** 2).sum(axis=1)
    tv = np.abs(win / n - p_star).sum(axis=1) / 2.0
    sd = float(stat.std(ddof=1))
    by_ref = stat.reshape(refs, per)
    within = float(by_ref.var(axis=1, ddof=1).mean())
    between = max(float(by_ref.mean(axis=1).var(ddof=1)) - within / per, 0.0)
    # references drawn from the reference's own (sparse) mix understate it where the true mix has a long
    # tail the sample missed; n / N is the scale of the reference's share of the noise, never less
    bias = max(math.sqrt(between) / max(sd, 1e-9), n / max(total, 1))
    return float(stat.mean()), sd, float(tv.mean()), bias


class CategoryMix(Signal):
    """Windowed Freeman-Tukey distance of the answer mix from a reference, fed to a CUSUM.

    Parameters
    ----------
    window
        Answers per window; None sizes it from the reference's categories (:func:`window_for`).
    window_s, min_window
        Event time that closes a window holding at least ``min_window`` answers (0: by count only).
    delta, threshold
        The CUSUM's allowance per window and alarm level, in standard deviations of the statistic.
    warmup_min, warmup_per_category, warmup_max
        Without an adapter: answers the provisional reference is built from.
    max_reference
        Answers a warm-up reference grows to by absorbing quiet windows.
    return_windows
        Quiet windows in a row (``z <= 1``) that end an episode: the traffic returned.
    max_categories
        Distinct categories kept; later new ones are pooled as ``__other__``.
    sims
        Simulated windows per null distribution.
    traffic_events
        Answers the recent traffic mix (:meth:`CategoryMix.traffic_mix`) spans, fading.
    """

    detector_name: ClassVar[str] = "CUSUM"
    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.1, critical=0.25, worse="up")
    tracks_level: ClassVar[bool] = False

    def __init__(
        self,
        *,
        window: int | None = None,
        window_s: float = 86_400.0,
        min_window: int = 30,
        delta: float = 1.0,
        threshold: float = 8.0,
        warmup_min: int = 200,
        warmup_per_category: int = 6,
        warmup_max: int = 600,
        max_reference: int = 5000,
        return_windows: int = 5,
        max_categories: int = 1000,
        sims: int = 400,
        traffic_events: int = 5000,
    ) -> None:
        for key, value in (("warmup_min", warmup_min), ("warmup_per_category", warmup_per_category),
                           ("warmup_max", warmup_max), ("return_windows", return_windows),
                           ("max_categories", max_categories), ("min_window", min_window), ("sims", sims)):
            if value < 1:
                raise ConfigError(f"category_mix {key} must be >= 1, got {value!r}; use a positive count")
        if window is not None and window < 2:
            raise ConfigError(f"category_mix window must be >= 2 answers, got {window!r}; or None to size it")
        if delta <= 0 or threshold <= 0:
            raise ConfigError(f"category_mix delta and threshold must be > 0, got {delta!r} and {threshold!r}")
        self.name = "category_mix"
        self.fixed_window = window
        self.window_s = window_s
        self.min_window = min_window
        self.delta = delta
        self.threshold = threshold
        self.warmup_min = warmup_min
        self.warmup_per_category = warmup_per_category
        self.warmup_max = max(warmup_max, warmup_min)
        self.max_reference = max_reference
        self.return_windows = return_windows
        self.max_categories = max_categories
        self.sims = sims
        self.traffic_events = traffic_events
        self.recent: dict[str, float] = {}
        self.events_seen = 0
        self.last_change: Change | None = None
        self.reference_source = "none"
        self.cusum = 0.0
        self.alarmed = False
        self._reference: dict[str, float] = {}
        self._warm: dict[str, int] = {}
        self._warm_source = "warm-up"
        self._windows: CountWindow | None = None
        self._null: dict[int, tuple[float, float, float, float]] = {}
        self._null_total = 0.0
        self._run: dict[str, int] = {}
        self._quiet = 0
        self._last_tv: float | None = None
        self._fired = False
        self._detail: dict[str, Any] = {}

    # ------------------------------------------------------------ reference
    def set_reference(self, counts: Mapping[str, int | float], *, source: str = "adapter") -> None:
        """Compare against this mix from now on (the serving adapter's training labels); ends any episode."""
        self._reference = {k: float(v) for k, v in counts.items() if v > 0}
        self.reference_source = source
        size = self.fixed_window or window_for(len(self._reference) + 1)
        self._windows = CountWindow(size, seconds=self.window_s, min_size=self.min_window)
        self._null = {}
        self._null_total = sum(self._reference.values())
        self._warm = {}
        self._restart_episode()

    def traffic_mix(self) -> dict[str, float] | None:
        """The answer mix of the last ``traffic_events`` answers (fading); None below ``warmup_min`` answers.

        What an adapter trained now saw: its snapshot's own label counts are a
        biased sample of it (duplicates skipped, low-confidence answers and the
        time after a drift sampled more), so this, not those, is the mix to
        compare later traffic with.
        """
        if sum(self.recent.values()) < self.warmup_min:
            return None
        return dict(self.recent)

    def warm_up(self, source: str = "warm-up") -> None:
        """Build the reference anew from the next answers (``source`` names it); ends any episode."""
        self._windows = None
        self._warm = {}
        self._warm_source = source
        self._reference = {}
        self.reference_source = "none"
        self._restart_episode()

    def _remember(self, counts: Mapping[str, int]) -> None:
        n = sum(counts.values())
        fade = max(0.0, 1.0 - n / self.traffic_events)
        recent = self.recent
        for key in recent:
            recent[key] *= fade
        for key, c in counts.items():
            recent[key] = recent.get(key, 0.0) + c

    @property
    def reference(self) -> dict[str, float]:
        """The reference counts (a copy)."""
        return dict(self._reference)

    @property
    def window(self) -> int | None:
        """Answers per window; None before a reference exists."""
        return self._windows.size if self._windows else None

    def _restart_episode(self) -> None:
        self.cusum = 0.0
        self.alarmed = False
        self._run = {}
        self._quiet = 0

    # --------------------------------------------------------------- update
    def update(self, x: str, t_ms: int | None = None) -> bool:
        """Count one answer's category (``t_ms``: its event time); the test runs when a window closes."""
        self._fired = False
        self.events_seen += 1
        windows = self._windows
        if windows is None:
            self._warm_up(x)
            return False
        if x not in self._reference and x not in windows.counts and len(windows.counts) >= self.max_categories:
            x = OTHER
        counts = windows.add(x, t_ms)
        return False if counts is None else self._test(counts)

    def _warm_up(self, x: str) -> None:
        warm = self._warm
        if x not in warm and len(warm) >= self.max_categories:
            x = OTHER
        warm[x] = warm.get(x, 0) + 1
        n = sum(warm.values())
        if n >= self.warmup_max or (n >= self.warmup_min and n >= self.warmup_per_category * len(warm)):
            self._remember(warm)
            self.set_reference(warm, source=self._warm_source)

    def _yardstick(self, n: int) -> tuple[float, float, float, float]:
        null = self._null.get(n)
        if null is None:
            null = self._null[n] = simulate_null(self._reference, n, sims=self.sims)
        return null

    def _test(self, counts: dict[str, int]) -> bool:
        self._remember(counts)
        stat, tv, n = freeman_tukey(counts, self._reference)
        self._last_tv = tv
        mean, sd, _, bias = self._yardstick(n)
        z = (stat - mean) / max(sd, 1e-9)
        if self.alarmed:
            self._quiet = self._quiet + 1 if z <= 1.0 else 0
            if self._quiet >= self.return_windows:
                self._restart_episode()
            return False
        # one freak window (the statistic's tail is heavy with few categories) cannot fire alone
        self.cusum = max(0.0, self.cusum + min(z, _Z_CAP) - self.delta - 2.0 * bias)
        if self.cusum == 0.0:
            self._run = {}
            self._absorb(counts)
            return False
        run = self._run
        for key, c in counts.items():
            run[key] = run.get(key, 0) + c
        if self.cusum < self.threshold:
            return False
        self._fire(n)
        return True

    def _absorb(self, counts: dict[str, int]) -> None:
        """A quiet window joins a warm-up reference (an adapter's stays as trained)."""
        if not self.reference_source.startswith("warm-up") or sum(self._reference.values()) >= self.max_reference:
            return
        ref = self._reference
        for key, c in counts.items():
            if key != OTHER:
                ref[key] = ref.get(key, 0.0) + c
        total = sum(ref.values())
        if total >= 1.25 * self._null_total:
            self._null = {}
            self._null_total = total

    def _fire(self, n: int) -> None:
        ref, run = self._reference, self._run
        ref_total = sum(ref.values())
        run_total = sum(run.values())
        share_ref = {k: v / ref_total for k, v in ref.items()}
        share_run = {k: v / run_total for k, v in run.items()}
        moves = sorted(((abs(share_run.get(k, 0.0) - share_ref.get(k, 0.0)), k) for k in ref.keys() | run.keys()),
                       key=lambda m: (-m[0], m[1]))
        self._detail = {
            "reference": self.reference_source,
            "window": n,
            "answers": run_total,
            "moved": [{"category": k, "share_reference": round(share_ref.get(k, 0.0), 4),
                       "share_live": round(share_run.get(k, 0.0), 4)} for _, k in moves[:5]],
        }
        # "before": the distance sampling noise alone gives a sample this size; "after": the one observed
        _, tv_after, _ = freeman_tukey(run, ref)
        self.last_change = Change(before=self._yardstick(run_total)[2], after=tv_after, at=self.events_seen)
        self._fired = True
        self.alarmed = True
        # the traffic since the change is what a retrain on it will have learned
        self.recent = {k: float(v) for k, v in run.items()}
        self.cusum = 0.0
        self._quiet = 0

    # ---------------------------------------------------------------- reads
    @property
    def drift_detected(self) -> bool:
        return self._fired

    @property
    def estimate(self) -> float | None:
        return self._last_tv

    def detail(self) -> dict[str, Any]:
        return dict(self._detail)

    def __repr__(self) -> str:
        return (f"CategoryMix(events_seen={self.events_seen}, reference={self.reference_source!r}, "
                f"categories={len(self._reference)}, estimate={self.estimate})")
