"""Teacher rejection rate: 1 when a teacher answer went to review instead of training.

More rejections mean inputs the teacher itself finds hard or ambiguous, and
money spent on labels that will not be used. It is a low 0/1 rate (a few
percent), where a fixed-threshold detector like DDM keeps false-alarming as its
minimum drifts down; ADWIN's variance-aware cut test is tight precisely for
rare events, so it sees a rise from 5% to 15% in a few hundred answers.

>>> import random
>>> rng = random.Random(4)
>>> stream = [rng.random() < 0.05 for _ in range(4000)] + [rng.random() < 0.15 for _ in range(2000)]
>>> signal = TeacherRejection()
>>> [i for i, rejected in enumerate(stream) if signal.update(rejected)]
[4383]
>>> round(signal.last_change.before, 3), round(signal.last_change.after, 3)
(0.047, 0.15)
"""

from __future__ import annotations

from typing import ClassVar

from monitors.severity import SeverityScale
from monitors.signals.base import AdwinSignal


class TeacherRejection(AdwinSignal):
    """Share of teacher answers rejected to review; +3 points is a warning, +10 critical."""

    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.03, critical=0.10, worse="up")

    def __init__(self, *, delta: float = 1e-4, clock: int = 32) -> None:
        super().__init__("teacher_rejection", delta=delta, clock=clock)
