"""The simulated teacher: accuracy, calibration, confusions, blind spot, ground truth."""

from __future__ import annotations

from collections import defaultdict

import pytest

from devkit.sim.teacher_model import CONFUSABLE, SimTeacher
from devkit.sim.transactions import CATEGORY_NAMES, TransactionGenerator

ROWS = list(TransactionGenerator(seed=11).stream(20_000))


def test_accuracy_and_where_mistakes_go() -> None:
    teacher = SimTeacher(seed=0, blind_spot=None)
    answers = [(t, teacher.answer(t.text)) for t in ROWS]
    known = [(t, a) for t, a in answers if a.source == "knowledge"]
    right = sum(a.label == t.category for t, a in known)
    assert right / len(known) == pytest.approx(0.95, abs=0.005)
    wrong = [(t, a) for t, a in known if a.label != t.category]
    assert all(a.label in CONFUSABLE[t.category] for t, a in wrong)
    assert {(t.category, a.label) for t, a in wrong} >= {("coffee_shops", "restaurants"), ("fuel", "ev_charging")}


def test_confidence_is_calibrated() -> None:
    teacher = SimTeacher(seed=0, blind_spot=None)
    bins: dict[int, list[bool]] = defaultdict(list)
    for t in ROWS:
        a = teacher.answer(t.text)
        if a.source == "knowledge":
            bins[min(9, int(a.confidence * 10))].append(a.label == t.category)
    for b in (7, 8, 9):  # the populated bins: accuracy sits inside the bin
        hits = bins[b]
        assert len(hits) > 500
        assert b / 10 - 0.03 <= sum(hits) / len(hits) <= b / 10 + 0.13


def test_blind_spot_is_confidently_wrong() -> None:
    teacher = SimTeacher(seed=0)
    dental = [teacher.answer(t.text) for t in ROWS if t.category == "dental_vision"]
    assert len(dental) > 20
    assert {a.label for a in dental} == {"medical_services"}
    assert min(a.confidence for a in dental) >= 0.88


def test_answers_are_deterministic_and_seeded() -> None:
    a, b, c = SimTeacher(seed=0), SimTeacher(seed=0), SimTeacher(seed=1)
    texts = [t.text for t in ROWS[:500]]
    assert [a.answer(x) for x in texts] == [b.answer(x) for x in texts]
    assert [a.answer(x).confidence for x in texts] != [c.answer(x).confidence for x in texts]


def test_ground_truth_is_used_for_replayed_inputs() -> None:
    teacher = SimTeacher(seed=0, accuracy=0.999, ground_truth={"opaque merchant 77": "pet_care"})
    a = teacher.answer("OPAQUE   MERCHANT 77")
    assert (a.truth, a.source) == ("pet_care", "ground_truth")
    unknown = teacher.answer("XQZ 12345")
    assert unknown.source == "guess" and unknown.truth is None and unknown.confidence < 0.45
    assert unknown.label in CATEGORY_NAMES


def test_alternatives_carry_the_rest_of_the_probability() -> None:
    teacher = SimTeacher(seed=0)
    for t in ROWS[:200]:
        a = teacher.answer(t.text)
        assert a.confidence + sum(p for _, p in a.alternatives) == pytest.approx(1.0)
        assert a.label not in {alt for alt, _ in a.alternatives}


def test_accuracy_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="accuracy: 1.5 must be strictly between 0 and 1"):
        SimTeacher(accuracy=1.5)
