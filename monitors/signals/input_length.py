"""Input length in characters, watched on a log scale by ADWIN.

Lengths are heavy-tailed (one pasted document outweighs a thousand merchant
strings), so the detector sees ``log1p(length)`` scaled into [0, 1] by the
largest event the contract allows; a move is then a change of the *typical*
length by a factor, whatever the absolute size. ADWIN suits it: the level is
unknown beforehand, changes may be abrupt or gradual, and its variance-aware
bound keeps false alarms rare on a stream this noisy without a tuned change
size. ``estimate`` is the typical length (geometric mean) in characters.

>>> import random
>>> rng = random.Random(7)
>>> texts = ["x" * int(rng.lognormvariate(3.4, 0.35)) for _ in range(3000)]
>>> texts += ["x" * int(rng.lognormvariate(3.7, 0.35)) for _ in range(2000)]
>>> signal = InputLength()
>>> [i for i, text in enumerate(texts) if signal.update(input_length(text))]
[3583]
>>> round(signal.last_change.before), round(signal.last_change.after)
(29, 40)
"""

from __future__ import annotations

import math
from typing import ClassVar

from distillery.events import MAX_EVENT_BYTES
from monitors.severity import SeverityScale
from monitors.signals.base import AdwinSignal

_LOG_MAX = math.log1p(MAX_EVENT_BYTES)


def input_length(text: str) -> int:
    """The observation this signal takes: the input's length in characters."""
    return len(text)


class InputLength(AdwinSignal):
    """Typical input length; a 20% move is a warning, 50% critical."""

    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.2, critical=0.5, relative=True)

    def __init__(self, *, delta: float = 1e-4, clock: int = 32) -> None:
        super().__init__("input_length", delta=delta, clock=clock)

    def encode(self, x: float) -> float:
        return math.log1p(min(max(x, 0.0), MAX_EVENT_BYTES)) / _LOG_MAX

    def decode(self, v: float) -> float:
        return math.expm1(v * _LOG_MAX)
