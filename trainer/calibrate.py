"""The router's confidence threshold (pure), calibrated on the gold set.

The student answers when its confidence is at least the threshold and the
teacher answers otherwise. The chosen threshold is the smallest one at which the
student's accuracy on the items it answers reaches the routing target: the
lowest threshold that keeps the promise answers the most traffic.

>>> calibrate_threshold([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 0.75)
Calibration(threshold=0.6, coverage=1.0, accuracy=0.75)
>>> calibrate_threshold([0.9, 0.8], [False, True], 0.99).threshold is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EPS = 1e-9


@dataclass(frozen=True)
class Calibration:
    """``threshold`` None means no threshold reaches the target: escalate everything."""

    threshold: float | None
    coverage: float
    accuracy: float | None


def calibrate_threshold(
    confidences: Sequence[float], correct: Sequence[bool], target_accuracy: float
) -> Calibration:
    """Smallest threshold whose answered share is at least ``target_accuracy`` accurate."""
    if len(confidences) != len(correct):
        raise ValueError(f"correct: {len(correct)} flags for {len(confidences)} confidences; one per item")
    items = sorted(zip(confidences, correct, strict=True), key=lambda x: -x[0])
    best = Calibration(threshold=None, coverage=0.0, accuracy=None)
    answered = hits = 0
    for i, (conf, ok) in enumerate(items):
        answered += 1
        hits += bool(ok)
        if i + 1 < len(items) and items[i + 1][0] == conf:
            continue  # a threshold takes every item at its confidence or none of them
        accuracy = hits / answered
        if accuracy >= target_accuracy - EPS:
            best = Calibration(threshold=float(conf), coverage=answered / len(items), accuracy=accuracy)
    return best
