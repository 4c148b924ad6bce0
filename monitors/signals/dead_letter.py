"""Dead-letter rate: 1 for an inbound event refused to the dead-letter topic, 0 for one accepted.

A producer that starts sending malformed events usually does it for every
event from one deployment on, so the rate jumps from ~0 to a few percent.
The rate is tiny and the change can be small in absolute terms, which is the
case ADWIN's variance-aware bound handles best among river's detectors (on a
0.01 rate its cut needs only a fraction of a point of difference once the
window is long), without the false alarms DDM's running minimum produces.

>>> import random
>>> rng = random.Random(6)
>>> stream = [rng.random() < 0.01 for _ in range(6000)] + [rng.random() < 0.05 for _ in range(4000)]
>>> signal = DeadLetterRate()
>>> [i for i, dead in enumerate(stream) if signal.update(dead)]
[6847]
>>> round(signal.last_change.before, 3), round(signal.last_change.after, 3)
(0.015, 0.108)
"""

from __future__ import annotations

from typing import ClassVar

from monitors.severity import SeverityScale
from monitors.signals.base import AdwinSignal


class DeadLetterRate(AdwinSignal):
    """Share of inbound events dead-lettered; +1 point is a warning, +5 critical."""

    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.01, critical=0.05, worse="up")

    def __init__(self, *, delta: float = 1e-4, clock: int = 32) -> None:
        super().__init__("dead_letter", delta=delta, clock=clock)
