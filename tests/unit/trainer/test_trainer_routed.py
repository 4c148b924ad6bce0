"""The routed system's gold-set figures: cross-validated, on a split fixed by the input texts."""

from __future__ import annotations

import pytest

from trainer.calibrate import calibrate_routed
from trainer.gold import GoldRow
from trainer.routed import fold_ids, folds_for, out_of_fold_answered, routed_scores

# A student whose most confident answer is wrong: 40 rows, confidence 0.50 + i/100,
# wrong on every fourth row (3, 7, ..., 39), the teacher right everywhere.
N = 40
SHAKY_GOLD = [GoldRow(f"row {i}", "yes", "a" if i % 2 == 0 else "b", "yes") for i in range(N)]
SHAKY = ["no" if i % 4 == 3 else "yes" for i in range(N)]
SHAKY_CONF = [0.5 + i / 100 for i in range(N)]


def test_fold_count_grows_with_the_gold_set() -> None:
    assert [folds_for(n) for n in (0, 20, 299, 300, 400, 499, 500, 5000)] == [2, 2, 2, 3, 4, 4, 5, 5]


def test_folds_follow_the_text_not_the_row_order() -> None:
    texts = [f"input {i}" for i in range(23)]
    folds = fold_ids(texts, 3)
    by_text = dict(zip(texts, folds, strict=True))
    shuffled = texts[7:] + texts[:7]
    assert fold_ids(shuffled, 3) == [by_text[t] for t in shuffled]
    assert sorted(folds.count(f) for f in range(3)) == [7, 8, 8]  # dealt round-robin: sizes within one
    assert fold_ids(texts, 3, seed=1) != folds  # another seed, another split
    assert fold_ids(texts, 3) == folds  # and the same one on every call


def test_duplicate_inputs_share_a_fold() -> None:
    folds = fold_ids(["same", "other", "same", "third", "same"], 2)
    assert folds[0] == folds[2] == folds[4]


def test_a_row_never_calibrates_its_own_decision() -> None:
    # every answer right, every confidence distinct: in sample the threshold is the lowest confidence
    conf = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    right = [True] * 6
    assert calibrate_routed(conf, right, right, max_below_teacher=0.0).coverage == 1.0
    # out of fold, a row below every confidence of the other fold has nothing vouching for it
    answered = out_of_fold_answered(conf, right, right, [0, 1, 0, 1, 0, 1], max_below_teacher=0.0)
    # fold 0 (0.9, 0.7, 0.5) uses fold 1's threshold 0.4: all answered;
    # fold 1 (0.8, 0.6, 0.4) uses fold 0's threshold 0.5: 0.4 goes to the teacher
    assert answered == [True, True, True, True, True, False]


def test_two_rows_each_judged_by_the_other() -> None:
    # in sample: threshold 0.9 answers the right row, coverage 0.5; out of fold each row is
    # judged by the other one alone: the wrong row vouches for nothing, the right one not for 0.8
    gold = [GoldRow("p", "x", "c", "x"), GoldRow("q", "x", "c", "x")]
    r = routed_scores(gold, ["x", "y"], [0.9, 0.8], max_below_teacher=0.0, min_category_support=1)
    assert (r.threshold, r.coverage, r.accuracy, r.student_accuracy) == (0.9, 0.0, 1.0, None)


def test_in_sample_passes_what_cross_validation_refuses() -> None:
    # in sample the top row (wrong) blocks every threshold: all to the teacher, routed == teacher
    s_ok = [a == "yes" for a in SHAKY]
    whole = calibrate_routed(SHAKY_CONF, s_ok, [True] * N, max_below_teacher=0.01)
    assert (whole.threshold, whole.routed_accuracy) == (None, 1.0)
    folds = fold_ids([g.input for g in SHAKY_GOLD], 2)
    assert [folds[i] for i in (31, 32, 33, 35, 36, 37, 38, 39)] == [1, 1, 0, 0, 0, 1, 0, 0]
    # fold 1 calibrates on fold 0, whose top row 39 is wrong: nothing; fold 0 calibrates on
    # fold 1, clean down to 0.82 (row 32, above its miss at 31): fold 0 answers 33, 35, 36, 38, 39
    answered = out_of_fold_answered(SHAKY_CONF, s_ok, [True] * N, folds, max_below_teacher=0.01)
    assert [i for i in range(N) if answered[i]] == [33, 35, 36, 38, 39]
    r = routed_scores(SHAKY_GOLD, SHAKY, SHAKY_CONF, max_below_teacher=0.01, min_category_support=3)
    assert r.model_dump() == {
        "n": 40, "threshold": None, "coverage": 5 / 40, "accuracy": 38 / 40, "student_accuracy": 3 / 5,
        "teacher_accuracy": 1.0, "per_category": {"a": 1.0, "b": 18 / 20},
        "per_category_coverage": {"a": 2 / 20, "b": 3 / 20}, "worst_category": "b",
        "method": "cross_validation", "folds": 2,
    }


def test_answers_compare_as_the_gate_compares_them() -> None:
    # distillery.answers.same_answer: neither surrounding spaces nor case matter (the gate's old copy
    # counted "yes" against "Yes" as a miss, where the monitors counted it as agreeing); another word does
    gold = [GoldRow(f"r{i}", "Yes", "c", "Yes") for i in range(4)]
    r = routed_scores(gold, [" Yes ", "Yes", "yes", "no"], [0.9, 0.9, 0.9, 0.9], max_below_teacher=1.0,
                      min_category_support=1)
    assert (r.threshold, r.coverage, r.student_accuracy, r.accuracy) == (0.9, 1.0, 0.75, 0.75)


def test_missing_teacher_answers_count_as_misses() -> None:
    gold = [GoldRow(f"r{i}", "x", "c", None if i == 0 else "x") for i in range(4)]
    r = routed_scores(gold, ["y"] * 4, [0.1] * 4, max_below_teacher=0.0, min_category_support=1)
    assert (r.teacher_accuracy, r.accuracy, r.coverage, r.threshold) == (0.75, 0.75, 0.0, None)


def test_bad_input_is_refused() -> None:
    gold = SHAKY_GOLD[:4]
    with pytest.raises(ValueError, match="3 confidences"):
        routed_scores(gold, SHAKY[:4], SHAKY_CONF[:3], max_below_teacher=0.0, min_category_support=1)
    with pytest.raises(ValueError, match="folds: 1"):
        routed_scores(gold, SHAKY[:4], SHAKY_CONF[:4], max_below_teacher=0.0, min_category_support=1, folds=1)
