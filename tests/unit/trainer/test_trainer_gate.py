"""The promotion gate on hand-made gold sets: every rule passes and fails exactly where it should."""

from __future__ import annotations

import pytest

from distillery.events import GateMetrics
from distillery.taskspec import GateSpec
from trainer.calibrate import Calibration, calibrate_threshold
from trainer.gate import GoldRow, evaluate_gate, model_scores, same

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
    assert same('{"payee": " acme", "amount": 3}', gold[0].label)
    assert not same({"amount": 3}, gold[0].label)
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
