"""The answering model's confidence, where events carry it.

A falling mean confidence is the student's own admission that inputs look
unfamiliar, and it is visible on every event, long before labeled feedback.
Confidences are already in [0, 1], the range ADWIN's bound is stated for,
and their distribution is skewed and shifts shape as well as level, so a
detector that assumes no change size or distribution suits it. Events without
a confidence are simply not fed.

>>> import random
>>> rng = random.Random(2)
>>> values = [rng.betavariate(9, 1) for _ in range(3000)] + [rng.betavariate(4, 1) for _ in range(2000)]
>>> signal = Confidence()
>>> [i for i, v in enumerate(values) if signal.update(v)]
[3135]
>>> round(signal.last_change.before, 2), round(signal.last_change.after, 2)
(0.9, 0.79)
"""

from __future__ import annotations

from typing import ClassVar

from monitors.severity import SeverityScale
from monitors.signals.base import AdwinSignal


class Confidence(AdwinSignal):
    """Mean answering confidence; a 5-point fall is a warning, 15 points critical."""

    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.05, critical=0.15, worse="down")

    def __init__(self, *, delta: float = 1e-4, clock: int = 32) -> None:
        super().__init__("confidence", delta=delta, clock=clock)
