"""What every drift signal offers, and the ADWIN-backed kind most of them are.

A signal is one number per observation (a length, a share, a 0/1 outcome) fed
to a river detector. Like river's detectors, :meth:`Signal.update` takes one
value and ``drift_detected`` says whether that value made it fire; on top of
river, a signal keeps ``estimate`` (its current level in the signal's own
units), ``events_seen``, and ``last_change``: the level before and after the
move that made it fire, which becomes the drift event's estimates.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from river.drift import ADWIN

from monitors.severity import SeverityScale


@dataclass(frozen=True)
class Change:
    """A detector firing: the level before and after the move, and when.

    ``at`` is the signal's ``events_seen`` at the firing observation.
    """

    before: float | None
    after: float | None
    at: int


class Signal(ABC):
    """One monitored quantity wrapped around one river detector."""

    name: str
    """The signal, as ``DriftEvent.signal`` names it (``input_length``, ``agreement``...)."""
    detector_name: ClassVar[str]
    """The river detector class, as ``DriftEvent.detector`` names it."""
    scale: ClassVar[SeverityScale]
    """How big a move is a warning or critical, and which way hurts."""
    tracks_level: ClassVar[bool] = True
    """Whether ``estimate`` is a level (a mean) rather than a distance from a reference."""

    events_seen: int
    last_change: Change | None

    @abstractmethod
    def update(self, x: Any) -> bool:
        """Feed one observation; True when the detector fired on it."""

    @property
    @abstractmethod
    def drift_detected(self) -> bool:
        """Whether the last :meth:`update` made the detector fire (read-only)."""

    @property
    @abstractmethod
    def estimate(self) -> float | None:
        """Current level in the signal's units; None before any observation."""

    def detail(self) -> dict[str, Any]:
        """Extra context for the drift event (which category moved...); empty by default."""
        return {}


def best_split(values: Sequence[float], min_segment: int = 16, min_z: float = 0.0) -> int:
    """Where a run of values most likely changed level: the split maximising the mean-shift statistic.

    Returns ``k`` such that ``values[:k]`` and ``values[k:]`` differ most in mean,
    weighted by ``k * (m - k) / m`` (the least-squares change point); 0 when the
    run is too short to split or when that difference, in standard errors, is
    below ``min_z`` (no change in the run).

    >>> best_split([0.0] * 40 + [1.0] * 20), best_split([0.0, 1.0] * 30, min_z=4.0)
    (40, 0)
    """
    m = len(values)
    if m < 2 * min_segment:
        return 0
    total = math.fsum(values)
    var = max(math.fsum(v * v for v in values) / m - (total / m) ** 2, 1e-12)
    best_k, best = 0, -1.0
    left = 0.0
    for k, v in enumerate(values[: m - min_segment], start=1):
        left += v
        if k < min_segment:
            continue
        diff = left / k - (total - left) / (m - k)
        score = k * (m - k) * diff * diff
        if score > best:
            best_k, best = k, score
    # score / m is the squared difference in units of its variance, times var
    return best_k if best / m >= min_z * min_z * var else 0


class AdwinSignal(Signal):
    """A signal whose values, mapped into [0, 1], go to river's ADWIN.

    ADWIN keeps a window cut wherever two halves differ by more than a bound
    that shrinks with their variance, so it needs no known change size and
    adapts its memory. Its bound is stated for values in [0, 1], hence
    :meth:`encode`. River empties the window on the update after a firing.

    ADWIN's cut is conservative: at a firing its window still holds values from
    before the change, so its mean understates the move. The last ``recent``
    values are kept in a ring buffer, and at a firing the most likely change
    point within what ADWIN kept (:func:`best_split`) separates the level after
    (mean since that point) from the level before (mean of everything since
    the detector's last reset up to that point). A detector fires when recent
    values happen to be extreme, so "after" overshoots a little: on the bench,
    0.83 for an agreement that fell from 0.95 to 0.85.
    """

    detector_name: ClassVar[str] = "ADWIN"

    def __init__(self, name: str, *, delta: float, clock: int = 32, recent: int = 4096) -> None:
        self.name = name
        self.detector = ADWIN(delta=delta, clock=clock)
        self.events_seen = 0
        self.last_change = None
        self._n = 0
        self._sum = 0.0
        self._recent = array("d", bytes(8 * recent))
        self._pos = 0

    def restart(self) -> None:
        """Forget the window (a new reference makes the old level meaningless); keeps ``events_seen``."""
        self.detector = self.detector.clone()
        self._n = 0
        self._sum = 0.0

    def prime(self, values: Sequence[float]) -> None:
        """Restart with a reference sample in the window (e.g. the training data's own values).

        The live values that follow are then compared with the reference from the
        first one, and a firing's "before" level is the reference's. Priming does
        not count in ``events_seen`` and a cut inside the reference is forgotten.
        """
        self.restart()
        for x in values:
            self._feed(self.encode(x))
        if self.detector.drift_detected:
            self.restart()

    def encode(self, x: float) -> float:
        """Map an observation into [0, 1]; identity for shares, rates and 0/1 outcomes."""
        return float(x)

    def decode(self, v: float) -> float:
        """Map an encoded mean back to the signal's units."""
        return v

    def _feed(self, v: float) -> None:
        """One encoded value into the detector and the window's before-level sums."""
        if self.detector.drift_detected:
            # river resets ADWIN on this update; restart the before-level sums with it
            self._n = 0
            self._sum = 0.0
        self.detector.update(v)
        self._n += 1
        self._sum += v

    def update(self, x: float) -> bool:
        v = self.encode(x)
        self._feed(v)
        det = self.detector
        self.events_seen += 1
        pos = self._pos
        self._recent[pos] = v
        self._pos = pos + 1 if pos + 1 < len(self._recent) else 0
        if not det.drift_detected:
            return False
        self.last_change = self._change()
        return True

    def _change(self) -> Change:
        ring, pos = self._recent, self._pos
        m = min(self._n, len(ring))
        recent = (ring[pos:] + ring[:pos])[-m:]
        # a split no stronger than noise means the change is older than the buffer: all of it is "after"
        after_vals = recent[best_split(recent, min_segment=64, min_z=4.0):]
        n_after = len(after_vals)
        after_sum = math.fsum(after_vals)
        n_before = self._n - n_after
        before = self.decode((self._sum - after_sum) / n_before) if n_before > 0 else None
        return Change(before=before, after=self.decode(after_sum / n_after), at=self.events_seen)

    @property
    def drift_detected(self) -> bool:
        return bool(self.detector.drift_detected)

    @property
    def estimate(self) -> float | None:
        width = self.detector.width
        return self.decode(self.detector.total / width) if width else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, events_seen={self.events_seen}, estimate={self.estimate})"
