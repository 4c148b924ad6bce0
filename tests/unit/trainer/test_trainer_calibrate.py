"""The routed calibration: the lowest threshold at which student-above plus teacher-below stays near the teacher."""

from __future__ import annotations

import pytest

from trainer.calibrate import Calibration, calibrate_routed, calibrate_threshold

CONF = [0.99, 0.95, 0.9, 0.9, 0.8, 0.7, 0.6]
STUDENT = [True, True, True, False, True, False, False]
TEACHER = [True, True, True, True, True, True, False]  # 6/7


def test_lowest_threshold_within_the_margin() -> None:
    # routed hits at >= 0.99: 6; >= 0.95: 6; >= 0.9 (tie taken together): 5; >= 0.8: 5; >= 0.7: 4; >= 0.6: 4
    # teacher 6/7; a margin of 1/7 tolerates one lost row, of 0 none
    assert calibrate_routed(CONF, STUDENT, TEACHER, max_below_teacher=1 / 7, standard_errors=0) == Calibration(
        threshold=0.8, coverage=5 / 7, accuracy=4 / 5, routed_accuracy=5 / 7
    )
    assert calibrate_routed(CONF, STUDENT, TEACHER, max_below_teacher=0.0, standard_errors=0) == Calibration(
        threshold=0.95, coverage=2 / 7, accuracy=1.0, routed_accuracy=6 / 7
    )
    assert calibrate_routed(CONF, STUDENT, TEACHER, max_below_teacher=2 / 7, standard_errors=0).threshold == 0.6


def test_the_most_coverage_not_the_best_routed_accuracy() -> None:
    # teacher 2/3; routed at >= 0.9: 3/3 (the student fixes the teacher's miss), >= 0.5: 2/3, >= 0.1: 1/3
    c = calibrate_routed([0.9, 0.5, 0.1], [True, False, False], [False, True, True], max_below_teacher=0.0,
                         standard_errors=0)
    assert c == Calibration(threshold=0.5, coverage=2 / 3, accuracy=0.5, routed_accuracy=2 / 3)


def test_full_coverage_when_the_student_alone_suffices() -> None:
    c = calibrate_routed([0.3, 0.9, 0.5], [True, True, False], [True, True, True], max_below_teacher=0.34,
                         standard_errors=0)
    assert c == Calibration(threshold=0.3, coverage=1.0, accuracy=2 / 3, routed_accuracy=2 / 3)


def test_none_when_only_the_teacher_keeps_the_promise() -> None:
    c = calibrate_routed([0.9, 0.8], [False, True], [True, True], max_below_teacher=0.4)
    assert c == Calibration(threshold=None, coverage=0.0, accuracy=None, routed_accuracy=1.0)
    assert calibrate_routed([], [], [], max_below_teacher=0.1).threshold is None


def test_unknown_teacher_falls_back_to_the_routing_target() -> None:
    fallback = calibrate_routed(CONF, STUDENT, None, max_below_teacher=0.0, target_accuracy=0.8)
    assert fallback == calibrate_threshold(CONF, STUDENT, 0.8) == Calibration(0.8, 5 / 7, 0.8)
    with pytest.raises(ValueError, match="target_accuracy"):
        calibrate_routed(CONF, STUDENT, None, max_below_teacher=0.0)


def test_flag_counts_must_match() -> None:
    with pytest.raises(ValueError, match="teacher_correct: 2 flags for 7 confidences"):
        calibrate_routed(CONF, STUDENT, [True, True], max_below_teacher=0.0)


def test_a_standard_error_of_the_loss_is_kept_in_hand() -> None:
    # at the edge (margin 1/7, one lost row allowed) the threshold is 0.8; with one standard error of the
    # paired loss in hand it stays where the student has not yet disagreed with the teacher
    edge = calibrate_routed(CONF, STUDENT, TEACHER, max_below_teacher=1 / 7, standard_errors=0)
    safe = calibrate_routed(CONF, STUDENT, TEACHER, max_below_teacher=1 / 7)
    assert edge.threshold == 0.8 and safe.threshold == 0.95 and safe.coverage < edge.coverage
    # no disagreement, no uncertainty: the buffer costs nothing
    same = calibrate_routed([0.9, 0.8], [True, True], [True, True], max_below_teacher=0.0)
    assert same.threshold == 0.8 and same.coverage == 1.0
