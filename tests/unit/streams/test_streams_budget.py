"""Budget windows, pause/resume transitions, and cost arithmetic."""

from __future__ import annotations

import pytest

from distillery.taskspec import SamplingSpec, TaskSpec, TeacherSpec
from streams.budget import Budget
from streams.teacher.cost import CostEstimator, cost_usd, tokens_from_chars

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the start of an hour and a day


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_hourly_budget_stops_calls_when_spent_and_resumes_next_hour() -> None:
    clock = Clock(T0 + 10)
    b = Budget(per_hour=1.0, per_day=100.0, clock=clock, task="transactions")
    granted = [b.reserve(0.3) is not None for _ in range(5)]
    assert granted == [True, True, True, False, False]
    assert b.spent_hour == pytest.approx(0.9)
    (t,) = b.take_transitions()
    assert t.kind == "paused" and t.window == "hour"
    assert t.resumes_at == T0 + 3600
    assert t.message == (
        "task 'transactions': teacher budget per hour spent ($0.9000 of $1.00); "
        "sampling paused until 2026-01-01T01:00:00Z"
    )
    assert b.take_transitions() == []  # reported once, not per refused event
    clock.t = T0 + 3599.9
    assert b.reserve(0.01) is None and b.paused  # stays paused for the rest of the window
    clock.t = T0 + 3600
    assert not b.paused
    assert b.reserve(0.3) is not None
    (resumed,) = b.take_transitions()
    assert resumed.kind == "resumed" and resumed.window == "hour"
    assert b.spent_hour == pytest.approx(0.3)
    assert b.spent_day == pytest.approx(1.2)


def test_daily_budget_pauses_until_midnight_utc() -> None:
    clock = Clock(T0)
    b = Budget(per_hour=1.0, per_day=2.5, clock=clock)
    seen = []
    for hour in range(3):
        clock.t = T0 + hour * 3600
        while b.reserve(0.25) is not None:
            pass
        seen += [(t.kind, t.window) for t in b.take_transitions()]
    # hour 0 and 1 spend their 1.00; hour 2 runs into the day's 2.50
    assert seen == [("paused", "hour"), ("resumed", "hour"), ("paused", "hour"), ("resumed", "hour"),
                    ("paused", "day")]
    assert b.spent_day == pytest.approx(2.5)
    clock.t = T0 + 3 * 3600  # a new hour, but the day is spent: no resume
    assert b.reserve(0.25) is None and b.take_transitions() == []
    clock.t = T0 + 86400
    assert b.reserve(0.25) is not None
    assert [t.kind for t in b.take_transitions()] == ["resumed"]


def test_settle_replaces_the_estimate_with_the_real_cost() -> None:
    clock = Clock(T0)
    b = Budget(per_hour=1.0, per_day=10.0, clock=clock)
    r = b.reserve(0.5)
    assert r is not None
    b.settle(r, 0.2)
    assert b.spent_hour == pytest.approx(0.2) and b.total_usd == pytest.approx(0.2)
    r2 = b.reserve(0.5)
    assert r2 is not None
    b.settle(r2, 0.0)  # the call failed: nothing spent
    assert b.spent_hour == pytest.approx(0.2)
    r3 = b.reserve(0.5)
    assert r3 is not None
    clock.t = T0 + 3600
    b.settle(r3, 0.9)  # its hour is over: the new hour is not charged
    assert b.spent_hour == 0.0
    assert b.spent_day == pytest.approx(1.1)


def test_zero_budget_never_calls() -> None:
    b = Budget(per_hour=0.0, per_day=0.0, clock=Clock())
    assert b.reserve(0.000001) is None
    assert [t.kind for t in b.take_transitions()] == ["paused"]


def test_for_task_reads_the_sampling_section() -> None:
    spec = TaskSpec(name="t", kind="classification", labels=["a", "b"],
                    sampling=SamplingSpec(budget_usd_per_hour=2.0, budget_usd_per_day=7.0))
    b = Budget.for_task(spec, clock=Clock())
    assert (b.per_hour, b.per_day, b.task) == (2.0, 7.0, "t")


def test_cost_from_usage_and_prices() -> None:
    teacher = TeacherSpec(price_input_per_mtok=2.0, price_output_per_mtok=8.0)
    assert cost_usd(220, 3, teacher) == pytest.approx(0.000464)
    assert cost_usd(220, 3, teacher, batch=True) == pytest.approx(0.000232)
    assert cost_usd(0, 0, teacher) == 0.0
    assert tokens_from_chars(881) == 221


def test_estimator_starts_at_chars_over_four_and_learns_from_usage() -> None:
    spec = TaskSpec(name="t", kind="classification", labels=["coffee_shops", "fuel"],
                    teacher=TeacherSpec(price_input_per_mtok=2.0, price_output_per_mtok=8.0))
    est = CostEstimator(spec)
    assert est.estimate_tokens(1000) == (250, 5)  # ceil(12/4) + 2 completion tokens
    est.observe(1000, prompt_tokens=300, completion_tokens=2)  # first observation replaces the prior
    assert est.estimate_tokens(1000) == (300, 2)
    assert est.estimate_usd(1000) == pytest.approx(cost_usd(300, 2, spec.teacher))
    est.observe(1000, prompt_tokens=200, completion_tokens=2)  # later ones blend in (alpha 0.05)
    assert est.estimate_tokens(1000) == (295, 2)


def test_estimator_assumes_max_tokens_for_open_answers() -> None:
    spec = TaskSpec(name="x", kind="extraction", output_schema={"type": "object"},
                    teacher=TeacherSpec(max_tokens=300))
    assert CostEstimator(spec).estimate_tokens(400) == (100, 300)
