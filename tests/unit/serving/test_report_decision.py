"""The decision table on crafted cases: each classic reason to say no, and the yes."""

from __future__ import annotations

import dataclasses
import math

from serving.report.decision import DecisionInputs, Thresholds, decide, max_episodes_per_100k

GOOD = DecisionInputs(
    monthly_volume=10_000_000, volume_needed=1_200_000, break_even_months=2.3, student_share=0.8,
    drift_episodes=1, events_seen=100_000, span_days=3.0, recovery_events=1000.0, gold_size=300,
    candidate_accuracy=0.96, teacher_accuracy=0.95, max_below_teacher=0.01, target_accuracy=0.95,
    worst_category="fuel", worst_accuracy=0.9, min_worst_category=0.5,
)


def _case(**kw: object) -> DecisionInputs:
    return dataclasses.replace(GOOD, **kw)  # type: ignore[arg-type]


def test_high_volume_stable_proven_task_specialises() -> None:
    d = decide(GOOD)
    assert d.verdict == "specialise"
    assert d.headline == "Specialise: breaks even in 2.3 months"
    assert [r.name for r in d.rows] == ["volume", "stability", "eval", "match", "ceiling"]
    assert all(r.passed for r in d.rows)
    assert d.row("volume").measured == "10,000,000 req/mo (breaks even: 2.3 months)"
    assert d.row("volume").threshold == ">= 1,200,000 req/mo (break-even within 12 months)"
    assert d.row("stability").measured.startswith("1 drift episode in 100,000 events (1.0 per 100k")
    assert d.row("match").measured == "candidate 96.0% vs teacher 95.0% (+1.0 pts)"


def test_low_volume_says_no_with_the_volume_it_would_need() -> None:
    d = decide(_case(monthly_volume=50_000, break_even_months=40.0))
    assert d.verdict == "low_volume"
    assert d.row("volume").passed is False
    assert d.headline == ("Don't: volume too low (50,000 req/mo, breaking even within 12 months "
                          "needs 1,200,000)")


def test_a_student_that_saves_nothing_never_breaks_even() -> None:
    d = decide(_case(volume_needed=math.inf, break_even_months=math.inf, student_share=0.02))
    assert d.verdict == "low_volume"
    assert "never breaks even" in d.headline and "2.0% student share" in d.headline


def test_frequent_drift_is_a_treadmill() -> None:
    # recovery of 1,000 events at a 20% stale bar allows 20 episodes per 100k events
    assert max_episodes_per_100k(1000.0, Thresholds()) == 20.0
    d = decide(_case(drift_episodes=21))
    assert d.verdict == "treadmill"
    assert d.row("stability").passed is False
    assert d.headline.startswith("Don't: the task keeps moving (21 drift episodes in 100,000 events (21.0 per 100k")
    assert decide(_case(drift_episodes=20)).verdict == "specialise"


def test_weekly_rate_counts_only_once_a_week_of_traffic_is_seen() -> None:
    # 12 episodes: few per 100k of 10M events, but 3 a week over four weeks
    weekly = _case(drift_episodes=12, events_seen=10_000_000, span_days=28.0)
    d = decide(weekly)
    assert d.verdict == "treadmill" and "3.0/week over 28.0 days" in d.row("stability").measured
    assert "<= 2/week" in d.row("stability").threshold
    # the same count over three days of a replay is not judged per week
    assert decide(dataclasses.replace(weekly, span_days=3.0)).verdict == "specialise"


def test_no_eval_means_no_proof_and_comes_first() -> None:
    d = decide(_case(candidate_accuracy=None, teacher_accuracy=None, monthly_volume=10, break_even_months=math.inf))
    assert d.verdict == "no_eval"
    assert d.headline == ("Don't: no proof yet (no candidate scored on the gold set yet); "
                          "an unverified student is a downgrade")
    assert d.row("match").passed is None and d.row("ceiling").passed is None
    small = decide(_case(gold_size=50))
    assert small.verdict == "no_eval" and "gold set of 50 examples, need 200" in small.headline
    no_teacher = decide(_case(teacher_accuracy=None))
    assert no_teacher.verdict == "no_eval" and "no teacher score" in no_teacher.headline


def test_capability_ceiling_routes_the_hard_tail() -> None:
    d = decide(_case(candidate_accuracy=0.90, teacher_accuracy=0.905))
    assert d.verdict == "route_only"
    assert d.row("match").passed is True and d.row("ceiling").passed is False
    assert d.headline == ("Route only: the student is below the bar (accuracy 90.0%; worst fuel 90.0%); "
                          "let it answer its confident 80.0% and escalate the rest; breaks even in 2.3 months")


def test_a_student_far_below_the_teacher_or_blind_to_a_category_is_route_only() -> None:
    below = decide(_case(candidate_accuracy=0.96, teacher_accuracy=0.99))
    assert below.verdict == "route_only" and below.row("match").passed is False
    blind = decide(_case(worst_accuracy=0.2))
    assert blind.verdict == "route_only" and blind.row("ceiling").passed is False


def test_no_events_leaves_stability_unmeasured_but_not_blocking() -> None:
    d = decide(_case(events_seen=0, drift_episodes=0, span_days=None))
    assert d.row("stability").passed is None and d.row("stability").measured == "no events yet"
    assert d.verdict == "specialise"


def test_thresholds_move_the_verdict() -> None:
    assert decide(_case(break_even_months=13.0)).verdict == "low_volume"
    assert decide(_case(break_even_months=13.0), Thresholds(horizon_months=18)).verdict == "specialise"
    assert decide(GOOD, Thresholds(min_gold=500)).verdict == "no_eval"


def test_without_a_student_share_volume_is_unjudged_and_no_break_even_is_claimed() -> None:
    d = decide(_case(student_share=None, break_even_months=None, volume_needed=None))
    assert d.row("volume").passed is None
    assert d.row("volume").measured == "10,000,000 req/mo; no student share to compute a break-even from"
    assert d.verdict == "specialise"
    assert d.headline == "Specialise: no break-even yet (no student share measured or calibrated)"
    route = decide(_case(student_share=None, break_even_months=None, volume_needed=None, candidate_accuracy=0.9))
    assert route.headline.endswith("let it answer its confident share and escalate the rest; "
                                   "no break-even yet (no student share measured or calibrated)")


def test_routed_figures_decide_the_match_and_the_eval_rule_stays() -> None:
    routed = _case(candidate_accuracy=0.90, routed_accuracy=0.948, routed_coverage=0.7, routed_teacher_accuracy=0.955)
    d = decide(routed)
    assert d.row("match").passed is True and d.verdict == "route_only"
    assert d.row("match").measured == ("routed 94.8% at 70.0% student coverage vs teacher 95.5% (-0.7 pts); "
                                       "student alone 90.0%")
    assert decide(dataclasses.replace(routed, routed_accuracy=0.94)).verdict == "below_teacher"
    # 200 gold examples are still the proof, routed figures or not
    assert decide(dataclasses.replace(routed, gold_size=150)).verdict == "no_eval"
