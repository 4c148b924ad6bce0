"""The decision table, filled from measured data (pure): specialise, route only, or don't.

Each row holds a measured value against a threshold. The verdict follows the
usual reasons a specialisation fails, in the order they are decisive: without an
eval there is no proof; at low volume the fixed costs never amortise; a task that
keeps moving puts the student on a retraining treadmill; a student that loses
accuracy even behind the router (the routed system below the teacher by more than
the gate's margin, at the coverage it was calibrated to) is not worth serving; and
a student that does not reach the bar alone keeps the teacher for the hard tail
(route only).

The teacher match is judged on the routed system when the gate measured it
(``GateMetrics.routed``: student where sure, teacher elsewhere, out of sample):
that is what serves. Older adapter events without it are judged on the student
alone, as before. Without a student share (nothing routed, nothing calibrated,
nothing given) there is no break-even, and the volume row is left unjudged.

Stability is measured in drift *episodes*: one real shift fires several signals
at once, and no more than one drift retrain follows alarms within a cooldown.
Its threshold comes from the task's own retrain cadence: after each episode the
stream needs ``min_new_examples`` divided by the sampling rate (the drift-boosted
one when boosting is on) events to gather a retrain's fresh labels, and the
student serves that traffic stale. Episodes are counted per
100k events (replays compress time) and, once a week of traffic has been seen,
per week as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from serving.report.fmt import count, months, pct

Verdict = Literal["specialise", "route_only", "low_volume", "treadmill", "below_teacher", "no_eval"]


@dataclass(frozen=True)
class Thresholds:
    """The bars a task must clear; every one is a ``distillery report`` option."""

    horizon_months: float = 12.0
    min_gold: int = 200
    max_stale_share: float = 0.2
    max_drift_per_week: float = 2.0
    weekly_after_days: float = 7.0
    blind_spot_accuracy: float = 0.7
    """A category where the teacher scores below this on gold is a teacher blind spot."""


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class DecisionInputs:
    """The measured values the table needs (see :func:`serving.report.build.build_report`)."""

    monthly_volume: float
    volume_needed: float | None
    break_even_months: float | None
    student_share: float | None
    drift_episodes: int
    events_seen: int
    span_days: float | None
    recovery_events: float
    gold_size: int
    candidate_accuracy: float | None
    teacher_accuracy: float | None
    max_below_teacher: float
    target_accuracy: float
    worst_category: str | None
    worst_accuracy: float | None
    min_worst_category: float
    routed_accuracy: float | None = None
    routed_coverage: float | None = None
    routed_teacher_accuracy: float | None = None
    """The teacher on the rows the routed figures were counted on (else ``teacher_accuracy`` is used)."""


@dataclass(frozen=True)
class Row:
    """One condition: what was measured, the bar, and whether it holds (``None``: nothing to measure)."""

    name: str
    measured: str
    threshold: str
    passed: bool | None


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    headline: str
    rows: tuple[Row, ...]

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)


def _volume(d: DecisionInputs, t: Thresholds) -> Row:
    if d.break_even_months is None or d.volume_needed is None:
        return Row("volume", f"{count(d.monthly_volume)} req/mo; no student share to compute a break-even from",
                   f"break-even within {t.horizon_months:g} months", None)
    return Row("volume", f"{count(d.monthly_volume)} req/mo (breaks even: {months(d.break_even_months)})",
               f">= {count(d.volume_needed)} req/mo (break-even within {t.horizon_months:g} months)",
               d.break_even_months <= t.horizon_months)


def max_episodes_per_100k(recovery_events: float, t: Thresholds) -> float:
    """Episodes per 100k events at which the student serves ``max_stale_share`` of traffic stale."""
    return 0.0 if math.isinf(recovery_events) else t.max_stale_share * 100_000 / max(recovery_events, 1.0)


def _stability(d: DecisionInputs, t: Thresholds) -> Row:
    limit = max_episodes_per_100k(d.recovery_events, t)
    bar = f"<= {limit:.1f} episodes per 100k events (stale <= {pct(t.max_stale_share)} of traffic)"
    weekly = d.span_days is not None and d.span_days >= t.weekly_after_days
    if weekly:
        bar += f" and <= {t.max_drift_per_week:g}/week"
    if d.events_seen == 0:
        return Row("stability", "no events yet", bar, None)
    per_100k = d.drift_episodes * 100_000 / d.events_seen
    plural = "" if d.drift_episodes == 1 else "s"
    measured = (f"{d.drift_episodes} drift episode{plural} in {count(d.events_seen)} events "
                f"({per_100k:.1f} per 100k")
    ok = per_100k <= limit
    if d.span_days:
        per_week = d.drift_episodes / (d.span_days / 7.0)
        measured += f"; {per_week:.1f}/week over {d.span_days:.1f} days"
        ok = ok and (not weekly or per_week <= t.max_drift_per_week)
    return Row("stability", measured + ")", bar, ok)


def _eval(d: DecisionInputs, t: Thresholds) -> Row:
    bar = f">= {t.min_gold} gold examples, candidate and teacher scored on them"
    if d.candidate_accuracy is None:
        return Row("eval", "no candidate scored on the gold set yet", bar, False)
    measured = f"{d.gold_size} gold examples" + ("" if d.teacher_accuracy is not None else ", no teacher score")
    return Row("eval", measured, bar, d.gold_size >= t.min_gold and d.teacher_accuracy is not None)


def _match(d: DecisionInputs) -> Row:
    if d.routed_accuracy is not None and d.teacher_accuracy is not None:
        teacher = d.routed_teacher_accuracy if d.routed_teacher_accuracy is not None else d.teacher_accuracy
        gap = d.routed_accuracy - teacher
        return Row("match", f"routed {pct(d.routed_accuracy)} at {pct(d.routed_coverage)} student coverage vs "
                   f"teacher {pct(teacher)} ({100 * gap:+.1f} pts); student alone {pct(d.candidate_accuracy)}",
                   f"routed system >= teacher - {pct(d.max_below_teacher)}", gap >= -d.max_below_teacher - 1e-12)
    bar = f"candidate >= teacher - {pct(d.max_below_teacher)}"
    if d.candidate_accuracy is None or d.teacher_accuracy is None:
        return Row("match", "no candidate and teacher scores to compare", bar, None)
    gap = d.candidate_accuracy - d.teacher_accuracy
    return Row("match", f"candidate {pct(d.candidate_accuracy)} vs teacher {pct(d.teacher_accuracy)} "
               f"({100 * gap:+.1f} pts)", bar, gap >= -d.max_below_teacher - 1e-12)


def _ceiling(d: DecisionInputs) -> Row:
    bar = f"accuracy >= {pct(d.target_accuracy)} target; worst category >= {pct(d.min_worst_category)}"
    if d.candidate_accuracy is None:
        return Row("ceiling", "no candidate scored on the gold set yet", bar, None)
    measured = f"accuracy {pct(d.candidate_accuracy)}"
    worst_ok = True
    if d.worst_accuracy is not None:
        measured += f"; worst {d.worst_category or '?'} {pct(d.worst_accuracy)}"
        worst_ok = d.worst_accuracy >= d.min_worst_category - 1e-12
    return Row("ceiling", measured, bar, d.candidate_accuracy >= d.target_accuracy - 1e-12 and worst_ok)


def decide(d: DecisionInputs, t: Thresholds = DEFAULT_THRESHOLDS) -> Decision:
    """Fill the table and give the verdict with its one-line reason."""
    rows = (_volume(d, t), _stability(d, t), _eval(d, t), _match(d), _ceiling(d))
    by = {r.name: r for r in rows}
    be = ("breaks even in " + months(d.break_even_months) if d.break_even_months is not None
          else "no break-even yet (no student share measured or calibrated)")
    if not by["eval"].passed:
        why = by["eval"].measured if d.candidate_accuracy is None or d.teacher_accuracy is None \
            else f"gold set of {d.gold_size} examples, need {t.min_gold}"
        return Decision("no_eval", f"Don't: no proof yet ({why}); an unverified student is a downgrade", rows)
    if by["volume"].passed is False:
        if d.volume_needed is None or math.isinf(d.volume_needed):
            why = (f"at a {pct(d.student_share)} student share each request saves less than the student "
                   "costs; it never breaks even")
        else:
            why = (f"{count(d.monthly_volume)} req/mo, breaking even within {t.horizon_months:g} months "
                   f"needs {count(d.volume_needed)}")
        return Decision("low_volume", f"Don't: volume too low ({why})", rows)
    if by["stability"].passed is False:
        return Decision("treadmill", f"Don't: the task keeps moving ({by['stability'].measured}); "
                        "retraining would eat the savings", rows)
    confident = f"confident {pct(d.student_share)}" if d.student_share is not None else "confident share"
    if d.routed_accuracy is not None and by["match"].passed is False:
        return Decision("below_teacher", f"Don't: even behind the router the student costs accuracy "
                        f"({by['match'].measured}); keep the teacher", rows)
    if not by["match"].passed or not by["ceiling"].passed:
        gap = by["match"].measured if not by["match"].passed else by["ceiling"].measured
        if d.routed_accuracy is not None:
            return Decision("route_only", f"Route only: the student alone is below the bar ({gap}); behind the "
                            f"router it holds the teacher's accuracy, so let it answer its {confident} and "
                            f"escalate the rest; {be}", rows)
        return Decision("route_only", f"Route only: the student is below the bar ({gap}); let it answer its "
                        f"{confident} and escalate the rest; {be}", rows)
    return Decision("specialise", f"Specialise: {be}", rows)
