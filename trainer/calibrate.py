"""The router's confidence threshold (pure), calibrated on the gold set.

The student answers when its confidence is at least the threshold and the
teacher answers otherwise. Of all thresholds that keep the promise, the lowest
is chosen: it lets the student answer the most traffic. Items of equal
confidence are taken together, since a threshold admits all of them or none.

Two promises, two functions:

* :func:`calibrate_routed`, the promise the gate judges: the *routed system*
  (student above the threshold, teacher below) is within ``max_below_teacher``
  of the teacher alone on the same rows;
* :func:`calibrate_threshold`, the older promise, and the fallback when the
  teacher's answers are unknown: the student's answered share alone reaches
  ``target_accuracy``.

>>> calibrate_threshold([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 0.75)
Calibration(threshold=0.6, coverage=1.0, accuracy=0.75, routed_accuracy=None)
>>> calibrate_threshold([0.9, 0.8], [False, True], 0.99).threshold is None
True

The teacher is right on all four rows; a margin of 0.25 tolerates one student
miss among the answered rows: the student answers down to 0.7, not 0.6:

>>> conf, student = [0.9, 0.8, 0.7, 0.6], [True, False, True, False]
>>> c = calibrate_routed(conf, student, [True] * 4, max_below_teacher=0.25, standard_errors=0)
>>> c.threshold, c.coverage, c.routed_accuracy
(0.7, 0.75, 0.75)

With a standard error of that loss kept in hand (the default), only the row
the student is surest of goes to it:

>>> calibrate_routed(conf, student, [True] * 4, max_below_teacher=0.25).threshold
0.9
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EPS = 1e-9
STANDARD_ERRORS = 1.0
"""How many standard errors of the routed system's loss against the teacher the calibration keeps in
hand. The threshold is the lowest one that keeps the promise on the calibration rows; chosen right at
the edge, it misses the promise on new rows about half the time (the best of many thresholds looks
better than it is). Keeping one standard error of the paired loss in hand trades a little coverage
for a threshold that holds on traffic it was not fitted to."""


@dataclass(frozen=True)
class Calibration:
    """``threshold`` None means no threshold keeps the promise: escalate everything.

    ``coverage`` is the student's share at the threshold, ``accuracy`` the
    student's accuracy on that share (None when it answers nothing), and
    ``routed_accuracy`` the routed system's accuracy on every item (None when
    the teacher's answers are unknown).
    """

    threshold: float | None
    coverage: float
    accuracy: float | None
    routed_accuracy: float | None = None


def _check(confidences: Sequence[float], correct: Sequence[bool], name: str = "correct") -> None:
    if len(confidences) != len(correct):
        raise ValueError(f"{name}: {len(correct)} flags for {len(confidences)} confidences; one per item")


def calibrate_threshold(
    confidences: Sequence[float], correct: Sequence[bool], target_accuracy: float
) -> Calibration:
    """Smallest threshold whose answered share is at least ``target_accuracy`` accurate."""
    _check(confidences, correct)
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


def standard_error(answered: int, loss: int, disagreements: int, n: int,
                   standard_errors: float = STANDARD_ERRORS) -> float:
    """``standard_errors`` standard errors of the routed accuracy's loss against the teacher.

    Per answered row the loss is teacher right minus student right (-1, 0 or 1);
    ``loss`` is its sum, ``disagreements`` the rows where it is not 0.

    >>> standard_error(10, 0, 0, 100), round(standard_error(10, 2, 2, 100), 4)
    (0.0, 0.0126)
    """
    if answered == 0:
        return 0.0
    mean = loss / answered
    variance = max(disagreements / answered - mean * mean, 0.0)
    return standard_errors * (answered * variance) ** 0.5 / n


def calibrate_routed(
    confidences: Sequence[float],
    student_correct: Sequence[bool],
    teacher_correct: Sequence[bool] | None,
    *,
    max_below_teacher: float,
    target_accuracy: float | None = None,
    standard_errors: float = STANDARD_ERRORS,
) -> Calibration:
    """Smallest threshold at which the routed system stays within ``max_below_teacher`` of the teacher.

    Why: what serves traffic is the student above the threshold and the teacher
    below it, so that pair, not the student alone, is what must match the
    teacher. A student right only where it is sure can then answer part of the
    traffic although it is far below the teacher overall.

    ``teacher_correct`` None (the teacher's answers on these items are unknown)
    falls back to :func:`calibrate_threshold` with ``target_accuracy``. When even
    full coverage keeps the promise the threshold is the lowest confidence; when
    only sending everything to the teacher does, it is None. The promise must
    hold with ``standard_errors`` of its loss in hand (:func:`standard_error`).
    """
    if teacher_correct is None:
        if target_accuracy is None:
            raise ValueError("target_accuracy: needed when the teacher's answers are unknown")
        return calibrate_threshold(confidences, student_correct, target_accuracy)
    _check(confidences, student_correct, "student_correct")
    _check(confidences, teacher_correct, "teacher_correct")
    n = len(confidences)
    if n == 0:
        return Calibration(threshold=None, coverage=0.0, accuracy=None)
    teacher_hits = sum(bool(t) for t in teacher_correct)
    floor = teacher_hits / n - max_below_teacher - EPS
    best = Calibration(threshold=None, coverage=0.0, accuracy=None, routed_accuracy=teacher_hits / n)
    items = sorted(zip(confidences, student_correct, teacher_correct, strict=True), key=lambda x: -x[0])
    answered = student_hits = teacher_hits_answered = disagreements = 0
    for i, (conf, s_ok, t_ok) in enumerate(items):
        answered += 1
        student_hits += bool(s_ok)
        teacher_hits_answered += bool(t_ok)
        disagreements += bool(s_ok) != bool(t_ok)
        if i + 1 < n and items[i + 1][0] == conf:
            continue  # a threshold takes every item at its confidence or none of them
        routed = (student_hits + teacher_hits - teacher_hits_answered) / n
        if routed - standard_error(answered, teacher_hits_answered - student_hits, disagreements, n,
                                   standard_errors) >= floor:
            best = Calibration(threshold=float(conf), coverage=answered / n, accuracy=student_hits / answered,
                               routed_accuracy=routed)
    return best
