"""The promotion gate on hand-made gold sets: every rule passes and fails exactly where it should."""

from __future__ import annotations

import pytest

from distillery.answers import same_answer
from distillery.events import GateMetrics
from distillery.taskspec import GateSpec
from trainer.calibrate import Calibration, calibrate_threshold
from trainer.gate import evaluate_gate, model_scores
from trainer.gold import GoldRow

# 10 rows: category a (4 rows), b (4 rows), c (2 rows: below a support of 3)
TRUTH = ["x", "x", "x", "x", "y", "y", "y", "y", "z", "z"]
CATS = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
TEACHER = ["x", "x", "x", "x", "y", "y", "y", "y", "z", "q"]  # 9/10 right
GOLD = [GoldRow(f"in{i}", t, c, p) for i, (t, c, p) in enumerate(zip(TRUTH, CATS, TEACHER, strict=True))]

GOOD = ["x", "x", "x", "x", "y", "y", "y", "q", "q", "q"]  # 7/10: a 1.0, b 0.75, c 0.0
BASE = ["x", "q", "q", "q", "y", "q", "q", "q", "q", "q"]  # 2/10
SPEC = GateSpec(
    max_below_teacher=0.2,
    min_accuracy=0.7,
    min_worst_category=0.75,
    max_category_regression=0.25,
    must_beat_base=True,
    min_category_support=3,
    category_regression_confidence=0.0,  # the bare margin: these rows are too few for evidence (tested below)
)


def test_scores_per_contender() -> None:
    s = model_scores(GOLD, GOOD, min_category_support=3)
    assert (s.n, s.accuracy, s.teacher_agreement) == (10, 0.7, 0.8)  # the teacher shares the last miss
    assert s.per_category == {"a": 1.0, "b": 0.75, "c": 0.0}
    assert s.worst_category == "b"  # c is worse but has 2 rows < support 3
    assert model_scores(GOLD, GOOD, min_category_support=2).worst_category == "c"


def test_every_rule_passes_at_its_boundary() -> None:
    # teacher 0.9 - 0.2 = 0.7 == candidate; worst b 0.75 == min; accuracy 0.7 == min
    production = ["x"] * 4 + ["y"] * 4 + ["z", "z"]  # b 1.0: candidate 0.75 is exactly 0.25 below
    decision = evaluate_gate(GOLD, SPEC, candidate=GOOD, base=BASE, production=production)
    assert decision.metrics.rules == {
        "min_accuracy": True,
        "within_teacher": True,
        "min_worst_category": True,
        "no_category_regression": True,
        "beats_base": True,
    }
    assert decision.failed == [] and decision.promoted
    assert isinstance(decision.metrics, GateMetrics)
    assert decision.metrics.teacher is not None and decision.metrics.teacher.accuracy == 0.9


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"max_below_teacher": 0.19}, ["within_teacher"]),
        ({"min_accuracy": 0.71}, ["min_accuracy"]),
        ({"min_worst_category": 0.76}, ["min_worst_category"]),
        ({"max_category_regression": 0.24}, ["no_category_regression"]),
    ],
)
def test_each_rule_fails_just_past_its_boundary(change: dict[str, float], failed: list[str]) -> None:
    production = ["x"] * 4 + ["y"] * 4 + ["z", "z"]
    spec = SPEC.model_copy(update=change)
    assert evaluate_gate(GOLD, spec, candidate=GOOD, base=BASE, production=production).failed == failed


def _paired(candidate_right: int, won_back: int = 0) -> tuple[list[GoldRow], list[str], list[str]]:
    """20 gold rows of one category; production gets the first 20 - won_back right, the candidate the given count."""
    gold = [GoldRow(f"row {i}", "x", "a") for i in range(20)]  # no pinned teacher: the margin rules stay out
    production = ["x"] * (20 - won_back) + ["q"] * won_back
    lost = 20 - candidate_right  # production right, candidate wrong
    candidate = ["q"] * lost + ["x"] * (20 - won_back - lost) + ["x"] * won_back
    return gold, production, candidate


@pytest.mark.parametrize(("candidate_right", "won_back", "p_value", "refused_at_95"), [
    (14, 0, 0.015625, True),    # 6 rows lost, none won: a regression, not chance
    (15, 0, 0.03125, True),    # 5 lost: the fewest that refuse at 0.95 with nothing won back
    (16, 0, 0.0625, False),   # 4 lost: a fair coin does that one time in 16
    (18, 0, 0.25, False),     # a 10-point drop from 2 rows
    (15, 2, 0.2265625, False),   # 5 lost but 2 won back (a net drop of 3 rows, 15 points)
])
def test_a_category_drop_refuses_only_when_the_paired_rows_bear_it_out(
        candidate_right: int, won_back: int, p_value: float, refused_at_95: bool) -> None:
    gold, production, candidate = _paired(candidate_right, won_back)
    spec = GateSpec(max_category_regression=0.05, must_beat_base=False, min_category_support=3)
    assert spec.category_regression_confidence == 0.95  # the shipped default
    decision = evaluate_gate(gold, spec, candidate=candidate, production=production)
    assert decision.metrics.category_drops == {"a": p_value}
    assert (decision.failed == ["no_category_regression"]) is refused_at_95
    bare = spec.model_copy(update={"category_regression_confidence": 0.0})
    assert evaluate_gate(gold, bare, candidate=candidate, production=production).failed == ["no_category_regression"]


def test_a_drop_within_the_margin_is_no_drop() -> None:
    gold, production, candidate = _paired(19)  # 5 points: at the margin, not past it
    spec = GateSpec(max_category_regression=0.05, must_beat_base=False, category_regression_confidence=0.0)
    decision = evaluate_gate(gold, spec, candidate=candidate, production=production)
    assert decision.metrics.category_drops == {} and decision.promoted


def test_must_beat_base_is_strict() -> None:
    decision = evaluate_gate(GOLD, SPEC.model_copy(update={"min_accuracy": 0.0}), candidate=GOOD, base=GOOD)
    assert decision.failed == ["beats_base"]
    relaxed = SPEC.model_copy(update={"must_beat_base": False})
    assert "beats_base" not in evaluate_gate(GOLD, relaxed, candidate=GOOD, base=GOOD).metrics.rules


def test_small_categories_never_decide_a_regression() -> None:
    production = ["x"] * 4 + ["y"] * 3 + ["q", "z", "z"]  # c 1.0 -> candidate 0.0, but c has 2 rows
    assert evaluate_gate(GOLD, SPEC, candidate=GOOD, base=BASE, production=production).failed == []


def test_missing_contenders_leave_their_rules_out() -> None:
    no_teacher = [GoldRow(g.input, g.label, g.category) for g in GOLD]
    decision = evaluate_gate(no_teacher, SPEC, candidate=GOOD)
    assert set(decision.metrics.rules) == {"min_accuracy", "min_worst_category"}
    assert decision.metrics.teacher is None and decision.metrics.production is None
    assert decision.metrics.candidate.teacher_agreement is None


def test_corrupted_candidate_is_rejected_on_several_rules() -> None:
    corrupted = ["y", "y", "y", "y", "z", "z", "z", "z", "x", "x"]
    failed = evaluate_gate(GOLD, SPEC, candidate=corrupted, base=BASE).failed
    assert failed == ["min_accuracy", "within_teacher", "min_worst_category", "beats_base"]


def test_extraction_answers_match_field_by_field() -> None:
    gold = [GoldRow("i", {"amount": 3, "payee": "ACME"}, "k", None)]
    assert same_answer('{"payee": " acme", "amount": 3}', gold[0].label)
    assert not same_answer({"amount": 3}, gold[0].label)
    s = model_scores(gold, [{"amount": 3, "payee": "x"}], min_category_support=1)
    assert (s.accuracy, s.f1) == (0.0, 0.5)


def test_prediction_count_must_match() -> None:
    with pytest.raises(ValueError, match="predictions: 2 answers for 10 gold rows"):
        model_scores(GOLD, ["x", "y"], min_category_support=1)


def test_router_threshold_is_the_lowest_meeting_the_target() -> None:
    conf = [0.99, 0.95, 0.9, 0.9, 0.8, 0.7, 0.6]
    right = [True, True, True, False, True, False, False]
    # answering >= 0.95: 2/2; >= 0.9: 3/4; >= 0.8: 4/5 = 0.8; >= 0.7: 4/6; >= 0.6: 4/7
    assert calibrate_threshold(conf, right, 0.8) == Calibration(threshold=0.8, coverage=5 / 7, accuracy=0.8)
    assert calibrate_threshold(conf, right, 0.76) == Calibration(threshold=0.8, coverage=5 / 7, accuracy=0.8)
    assert calibrate_threshold(conf, right, 1.0) == Calibration(threshold=0.95, coverage=2 / 7, accuracy=1.0)
    assert calibrate_threshold(conf, [False] * 7, 0.5) == Calibration(
        threshold=None, coverage=0.0, accuracy=None
    )
    assert calibrate_threshold([], [], 0.9).threshold is None


# --- the routed system: the student where its confidence clears the threshold, the teacher elsewhere ---

ROUTED_SPEC = GateSpec(
    max_below_teacher=0.01, min_worst_category=0.9, min_coverage=0.1, max_category_regression=0.25,
    must_beat_base=True, min_category_support=3,
)


def _gold(prefix: str, categories: list[str]) -> list[GoldRow]:
    """A gold set whose pinned teacher is right on every row."""
    return [GoldRow(f"{prefix} {i}", "yes", c, "yes") for i, c in enumerate(categories)]


def test_promotes_a_routed_system_within_the_margin_at_partial_coverage() -> None:
    # 40 rows: the student is right and sure (0.9) on the even rows, wrong and unsure (0.3) on the odd ones
    gold = _gold("sure", ["a"] * 20 + ["b"] * 20)
    cand = ["yes" if i % 2 == 0 else "no" for i in range(40)]
    conf = [0.9 if i % 2 == 0 else 0.3 for i in range(40)]
    base = ["no"] * 40
    alone = evaluate_gate(gold, ROUTED_SPEC, candidate=cand, base=base)
    assert alone.failed == ["within_teacher", "min_worst_category"]  # 0.5 alone vs a teacher at 1.0
    assert alone.metrics.routed is None
    decision = evaluate_gate(gold, ROUTED_SPEC, candidate=cand, base=base, candidate_confidence=conf)
    assert decision.promoted and decision.metrics.rules == {
        "min_accuracy": True, "within_teacher": True, "min_coverage": True, "min_worst_category": True,
        "beats_base": True,
    }
    routed = decision.metrics.routed
    assert routed is not None and routed.model_dump() == {
        "n": 40, "threshold": 0.9, "coverage": 0.5, "accuracy": 1.0, "student_accuracy": 1.0,
        "teacher_accuracy": 1.0, "per_category": {"a": 1.0, "b": 1.0},
        "per_category_coverage": {"a": 0.5, "b": 0.5}, "worst_category": "a",
        "method": "cross_validation", "folds": 2,
    }
    assert decision.metrics.candidate.accuracy == 0.5  # the student alone is still reported as such


def test_refuses_a_confidently_wrong_student() -> None:
    # its most confident answer is wrong; in sample that sends all to the teacher (routed == teacher), but
    # out of fold one fold's threshold lets two misses through: routed 38/40 < 1.0 - 0.01
    gold = [GoldRow(f"row {i}", "yes", "a" if i % 2 == 0 else "b", "yes") for i in range(40)]
    cand = ["no" if i % 4 == 3 else "yes" for i in range(40)]
    conf = [0.5 + i / 100 for i in range(40)]
    spec = ROUTED_SPEC.model_copy(update={"min_worst_category": 0.0, "must_beat_base": False})
    decision = evaluate_gate(gold, spec, candidate=cand, candidate_confidence=conf)
    routed = decision.metrics.routed
    assert routed is not None and (routed.threshold, routed.coverage, routed.accuracy) == (None, 0.125, 0.95)
    assert decision.failed == ["within_teacher"]


def test_refuses_a_routed_system_that_answers_too_little() -> None:
    gold = _gold("rare", ["a", "b"] * 20)
    cand = ["yes" if i < 2 else "no" for i in range(40)]  # right and sure on 2 rows only
    conf = [0.9 if i < 2 else 0.3 for i in range(40)]
    spec = ROUTED_SPEC.model_copy(update={"must_beat_base": False})
    decision = evaluate_gate(gold, spec, candidate=cand, candidate_confidence=conf)
    routed = decision.metrics.routed
    assert routed is not None and (routed.threshold, routed.coverage, routed.accuracy) == (0.9, 0.05, 1.0)
    assert decision.failed == ["min_coverage"]
    assert evaluate_gate(gold, spec.model_copy(update={"min_coverage": 0.05}), candidate=cand,
                         candidate_confidence=conf).promoted


def test_category_rules_read_the_routed_system() -> None:
    # a: 60 rows right and sure; b: 20 rows all wrong, 8 of them sure (0.95), 12 unsure (0.2).
    # Each fold of 40 holds 4 sure misses (60..67) and 5 or 7 unsure ones: every calibration keeps 0.9
    # (4 misses: 0.9 >= 0.85) and refuses 0.2 (9 or 11 misses)
    gold = _gold("cat", ["a"] * 60 + ["b"] * 20)
    cand = ["yes"] * 60 + ["no"] * 20
    conf = [0.9] * 60 + [0.95] * 8 + [0.2] * 12
    # production: the same answers, but unsure on all of b: its router sends b to the teacher
    prod, prod_conf = cand, [0.9] * 60 + [0.2] * 20
    spec = ROUTED_SPEC.model_copy(update={"max_below_teacher": 0.15, "min_worst_category": 0.7,
                                          "must_beat_base": False})
    decision = evaluate_gate(gold, spec, candidate=cand, candidate_confidence=conf, production=prod,
                             production_confidence=prod_conf)
    routed = decision.metrics.routed
    assert routed is not None and (routed.threshold, routed.coverage, routed.accuracy) == (0.9, 0.85, 0.9)
    assert routed.per_category == {"a": 1.0, "b": 0.6} and routed.per_category_coverage == {"a": 1.0, "b": 0.4}
    assert routed.worst_category == "b"
    assert decision.metrics.rules["within_teacher"] and decision.metrics.rules["min_coverage"]
    assert decision.failed == ["min_worst_category", "no_category_regression"]  # b: 0.6 < 0.7; 0.6 < 1.0 - 0.25
    # without production's confidences, like is compared with like: student alone, b 0.0 vs 0.0
    fallback = evaluate_gate(gold, spec, candidate=cand, candidate_confidence=conf, production=prod)
    assert fallback.failed == ["min_worst_category"] and fallback.metrics.rules["no_category_regression"]


def test_no_routed_judgement_without_a_teacher() -> None:
    gold = [GoldRow(g.input, g.label, g.category) for g in GOLD]
    decision = evaluate_gate(gold, SPEC, candidate=GOOD, candidate_confidence=[0.9] * 10)
    assert decision.metrics.routed is None
    assert set(decision.metrics.rules) == {"min_accuracy", "min_worst_category"}
