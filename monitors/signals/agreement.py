"""Teacher-student agreement on sampled events: 1 when they agree, 0 when not.

This is the closest thing to live accuracy the system has, so it must catch a
fall from 95% to 85% within 1,500 labeled events while staying silent for
millions. ADWIN on the 0/1 stream does: its cut test uses the window's
variance, so near 95% (variance 0.05) it resolves a 10-point fall in about 300
events, and it stays calibrated at any agreement level. River's binary
detectors were measured on the same streams (``bench/drift_bench.py``,
"candidates", 10 seeds, 1M stationary events): DDM false-alarmed 1.6 times per
100k events and took ~1,200 events; EDDM false-alarmed 23 times per 100k;
FHDDM's variance-free Hoeffding bound needs a 1,000-event window and
false-alarmed at 70% agreement, where its running maximum creeps up; HDDM_A
took twice as long and costs ten times more per update; HDDM_W missed the
95% -> 85% fall outright.

>>> import random
>>> rng = random.Random(1)
>>> stream = [rng.random() < 0.95 for _ in range(5000)] + [rng.random() < 0.85 for _ in range(3000)]
>>> signal = Agreement()
>>> [i for i, agree in enumerate(stream) if signal.update(agree)]
[5247]
>>> round(signal.last_change.before, 3), round(signal.last_change.after, 3)
(0.947, 0.818)
"""

from __future__ import annotations

from typing import ClassVar

from monitors.severity import SeverityScale
from monitors.signals.base import AdwinSignal


class Agreement(AdwinSignal):
    """Teacher-student agreement rate; a 3-point fall is a warning, 10 points critical."""

    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.03, critical=0.10, worse="down")

    def __init__(self, *, delta: float = 1e-4, clock: int = 32) -> None:
        super().__init__("agreement", delta=delta, clock=clock)
