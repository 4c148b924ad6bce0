"""The routed system on the gold set, measured out of sample (pure).

What serves traffic is the student where its confidence clears the router's
threshold and the teacher elsewhere. Calibrating that threshold on the gold set
and then counting coverage and accuracy on the same rows would grade the
threshold on the rows it was fitted to, so :func:`routed_scores` uses k-fold
cross-validation: each row's student-or-teacher decision comes from a threshold
calibrated on the *other* folds only, and the figures aggregate those
out-of-fold decisions over every row. The threshold reported is the one
calibrated on the whole gold set: the one the router will use.

Folds are assigned by a hash of the input text, not by random state
(:func:`fold_ids`), so the same gold set splits the same way on every job and a
candidate and the production adapter are judged on identical splits.

>>> gold = [GoldRow(f"q{i}", "yes", "c", "yes") for i in range(8)]
>>> answers = ["yes"] * 4 + ["no"] * 4
>>> r = routed_scores(gold, answers, [0.9] * 4 + [0.2] * 4, max_below_teacher=0.0,
...                   min_category_support=1, seed=0)
>>> r.threshold, r.coverage, r.accuracy, r.student_accuracy, r.folds
(0.9, 0.5, 1.0, 1.0, 2)
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from distillery.answers import Answer, same_answer
from distillery.events import RoutedScores
from trainer.calibrate import calibrate_routed
from trainer.gold import GoldRow

MIN_FOLDS, MAX_FOLDS = 2, 5
ROWS_PER_FOLD = 100
"""Beyond two folds, each held-out fold keeps at least this many rows (see :func:`folds_for`)."""


def folds_for(n: int) -> int:
    """How many folds a gold set of ``n`` rows is cross-validated with: ``n // 100`` within 2..5.

    Why: with fewer folds each threshold is calibrated on fewer rows, a noisier
    threshold whose out-of-sample figures are, if anything, pessimistic: the safe
    side for a small gold set (anything under 300 rows calibrates on half of it).
    Larger sets afford more folds, calibrating on 2/3 to 4/5 of the rows, closer to
    the whole-set threshold the router will use, while each held-out fold keeps at
    least 100 rows. Five folds from 500 rows on.

    >>> [folds_for(n) for n in (20, 299, 300, 499, 500, 10_000)]
    [2, 2, 3, 4, 5, 5]
    """
    return min(MAX_FOLDS, max(MIN_FOLDS, n // ROWS_PER_FOLD))


def fold_ids(texts: Sequence[str], k: int, *, seed: int = 0) -> list[int]:
    """The fold (0..k-1) of each row: distinct texts in sha256 order, dealt round-robin.

    Why this way: a hash (salted with ``seed``) makes the split a property of the
    texts, not of a random generator or the row order; dealing in hash order
    keeps the folds' counts of distinct texts within one of each other, which a
    plain ``hash % k`` does not on small sets; and repeated texts share a fold, so a row never helps calibrate
    the decision on its own duplicate.

    >>> fold_ids(["a", "b", "c", "a"], 2)
    [1, 0, 0, 1]
    """
    if k < 1:
        raise ValueError(f"k: {k} folds; at least 1")

    def digest(text: str) -> bytes:
        return hashlib.sha256(f"{seed}\x00{text}".encode()).digest()

    distinct = sorted(set(texts), key=lambda t: (digest(t), t))
    fold_of = {text: rank % k for rank, text in enumerate(distinct)}
    return [fold_of[t] for t in texts]


def out_of_fold_answered(
    confidences: Sequence[float],
    student_correct: Sequence[bool],
    teacher_correct: Sequence[bool],
    folds: Sequence[int],
    *,
    max_below_teacher: float,
) -> list[bool]:
    """Whether the student answers each row, by a threshold calibrated without that row's fold.

    A fold whose complement is empty (a single fold) has nothing to calibrate on:
    its rows go to the teacher.
    """
    n = len(confidences)
    if not len(student_correct) == len(teacher_correct) == len(folds) == n:
        raise ValueError(
            f"{len(confidences)} confidences, {len(student_correct)} student flags, "
            f"{len(teacher_correct)} teacher flags, {len(folds)} folds: one of each per row"
        )
    answered = [False] * n
    for fold in sorted(set(folds)):
        rest = [i for i in range(n) if folds[i] != fold]
        calibration = calibrate_routed(
            [confidences[i] for i in rest],
            [student_correct[i] for i in rest],
            [teacher_correct[i] for i in rest],
            max_below_teacher=max_below_teacher,
        )
        if calibration.threshold is None:
            continue
        for i in range(n):
            if folds[i] == fold:
                answered[i] = confidences[i] >= calibration.threshold
    return answered


@dataclass(frozen=True)
class RoutedRows:
    """Per gold row: who answered (out of fold) and whether the routed system was right."""

    correct: list[bool]
    """The routed answer (the student's where it answered, else the teacher's) matched the gold label."""
    answered: list[bool]
    """The student answered the row (its confidence cleared the out-of-fold threshold)."""
    student_correct: list[bool]
    teacher_correct: list[bool]
    threshold: float | None
    """Calibrated on the whole gold set: what the router will use."""
    folds: int


def routed_rows(
    gold: Sequence[GoldRow],
    candidate: Sequence[Answer | None],
    confidences: Sequence[float],
    teacher: Sequence[Answer | None] | None = None,
    *,
    max_below_teacher: float,
    folds: int | None = None,
    seed: int = 0,
) -> RoutedRows:
    """The routed system row by row (:func:`routed_scores` sums these; the gate pairs them per category)."""
    n = len(gold)
    if teacher is None:
        teacher = [g.teacher for g in gold]
    if not len(candidate) == len(confidences) == len(teacher) == n:
        raise ValueError(
            f"{len(candidate)} answers, {len(confidences)} confidences, {len(teacher)} teacher answers "
            f"for {n} gold rows; one of each per row"
        )
    k = folds if folds is not None else folds_for(n)
    if k < MIN_FOLDS:
        raise ValueError(f"folds: {k}; cross-validation needs at least {MIN_FOLDS}")
    s_ok = [same_answer(a, g.label) for a, g in zip(candidate, gold, strict=True)]
    t_ok = [same_answer(t, g.label) for t, g in zip(teacher, gold, strict=True)]
    whole = calibrate_routed(confidences, s_ok, t_ok, max_below_teacher=max_below_teacher)
    answered = out_of_fold_answered(
        confidences, s_ok, t_ok, fold_ids([g.input for g in gold], k, seed=seed),
        max_below_teacher=max_below_teacher,
    )
    correct = [s if a else t for s, t, a in zip(s_ok, t_ok, answered, strict=True)]
    return RoutedRows(correct, answered, s_ok, t_ok, whole.threshold, k)


def routed_scores(
    gold: Sequence[GoldRow],
    candidate: Sequence[Answer | None],
    confidences: Sequence[float],
    teacher: Sequence[Answer | None] | None = None,
    *,
    max_below_teacher: float,
    min_category_support: int,
    folds: int | None = None,
    seed: int = 0,
) -> RoutedScores:
    """Coverage and accuracy of the candidate behind the router, cross-validated on the gold set.

    Parameters
    ----------
    gold
        The frozen gold rows; their inputs decide the folds.
    candidate, confidences
        The student's answer and its confidence on each gold row.
    teacher
        The teacher's answer on each row; defaults to the rows' pinned answers,
        and a row without one counts as a teacher miss.
    max_below_teacher
        The promise the threshold is calibrated to (``GateSpec.max_below_teacher``).
    min_category_support
        Categories with fewer rows never become ``worst_category``.
    folds
        The number of folds; default :func:`folds_for` of the gold size.
    seed
        Salts the fold hash; the default keeps every job on the same split.

    Returns
    -------
    RoutedScores
        ``threshold`` calibrated on the whole gold set; every other figure from the
        out-of-fold decisions: ``coverage`` and ``accuracy`` over all rows,
        ``student_accuracy`` on the rows the student answered, ``teacher_accuracy``
        of the teacher alone on all rows, and per-category routed accuracy and
        coverage. Answers are compared with :func:`distillery.answers.same_answer`,
        as every other gate figure is.
    """
    rows = routed_rows(gold, candidate, confidences, teacher, max_below_teacher=max_below_teacher, folds=folds,
                       seed=seed)
    return summarise(gold, rows, min_category_support=min_category_support)


def summarise(gold: Sequence[GoldRow], rows: RoutedRows, *, min_category_support: int) -> RoutedScores:
    """:class:`RoutedScores` from the rows of :func:`routed_rows`."""
    n = len(gold)
    routed, answered = rows.correct, rows.answered
    by_cat: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(gold):
        by_cat[row.category].append(i)
    per_category = {c: sum(routed[i] for i in idx) / len(idx) for c, idx in sorted(by_cat.items())}
    supported = sorted(c for c, idx in by_cat.items() if len(idx) >= min_category_support)
    n_answered = sum(answered)
    return RoutedScores(
        n=n,
        threshold=rows.threshold,
        coverage=n_answered / n if n else 0.0,
        accuracy=sum(routed) / n if n else 0.0,
        student_accuracy=sum(s for s, a in zip(rows.student_correct, answered, strict=True) if a) / n_answered
        if n_answered else None,
        teacher_accuracy=sum(rows.teacher_correct) / n if n else None,
        per_category=per_category,
        per_category_coverage={c: sum(answered[i] for i in idx) / len(idx) for c, idx in sorted(by_cat.items())},
        worst_category=min(supported, key=lambda c: per_category[c]) if supported else None,
        method="cross_validation",
        folds=rows.folds,
    )
