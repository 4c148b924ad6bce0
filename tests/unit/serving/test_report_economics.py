"""The cost model against hand computations: per-request costs, break-even, the volume bar."""

from __future__ import annotations

import math

import pytest

from serving.economics import CostModel, break_even, cumulative_by_month, request_usd, volume_for_break_even


def test_request_cost_is_tokens_times_price_per_million() -> None:
    # a long teacher prompt at frontier prices against a short student prompt at small-model prices
    assert request_usd(2200, 300, 5.0, 15.0) == pytest.approx((2200 * 5 + 300 * 15) / 1e6)
    assert request_usd(250, 300, 0.3, 1.2) == pytest.approx(0.000435)
    assert request_usd(0, 0, 5.0, 15.0) == 0.0


def _model(**kw: object) -> CostModel:
    base: dict[str, object] = dict(teacher_request_usd=0.0155, student_request_usd=0.000435,
                                   monthly_volume=10_000_000, student_share=1.0,
                                   one_time_usd={"data_curation": 8000.0, "training": 1500.0, "eval_build": 4000.0},
                                   monthly_fixed_usd=1200.0)
    base.update(kw)
    return CostModel(**base)  # type: ignore[arg-type]


def test_full_swap_matches_the_hand_computation() -> None:
    b = break_even(_model())
    assert b.gross_monthly_usd == pytest.approx(150_650.0)
    assert b.escalation_monthly_usd == 0.0
    assert b.net_monthly_usd == pytest.approx(149_450.0)
    assert b.one_time_usd == 13_500.0
    assert b.months == pytest.approx(13_500 / 149_450)
    assert b.teacher_only_monthly_usd == pytest.approx(155_000.0)
    assert b.distilled_monthly_usd == pytest.approx(155_000.0 - 149_450.0)


def test_escalated_share_pays_the_teacher_on_top_of_the_student() -> None:
    b = break_even(_model(student_share=0.8))
    escalation = 10_000_000 * 0.2 * 0.0155
    assert b.escalation_monthly_usd == pytest.approx(escalation)
    assert b.running_monthly_usd == pytest.approx(1200 + escalation)
    assert b.net_monthly_usd == pytest.approx(150_650 - 1200 - escalation)
    # what the cascade costs a month: the student on everything, the teacher on 20%, fixed costs
    assert b.distilled_monthly_usd == pytest.approx(10_000_000 * (0.000435 + 0.2 * 0.0155) + 1200)


def test_low_volume_never_breaks_even() -> None:
    b = break_even(_model(monthly_volume=50_000, monthly_fixed_usd=1200.0))
    assert b.net_monthly_usd == pytest.approx(50_000 * (0.0155 - 0.000435) - 1200)
    assert b.net_monthly_usd < 0 and math.isinf(b.months)


def test_volume_needed_breaks_even_exactly_at_the_horizon() -> None:
    m = _model(student_share=0.8)
    v = volume_for_break_even(m, 12.0)
    assert v == pytest.approx((13_500 / 12 + 1200) / (0.8 * 0.0155 - 0.000435))
    at = break_even(_model(student_share=0.8, monthly_volume=v))
    assert at.months == pytest.approx(12.0)


def test_no_volume_suffices_when_the_student_saves_nothing_per_request() -> None:
    # 2% answered by a student costing 0.000435: 0.02 * 0.0155 = 0.00031 < 0.000435
    assert math.isinf(volume_for_break_even(_model(student_share=0.02), 12.0))
    with pytest.raises(ValueError, match="horizon_months"):
        volume_for_break_even(_model(), 0.0)


def test_share_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"student_share: 1\.5"):
        _model(student_share=1.5)


def test_cumulative_lines_cross_at_break_even() -> None:
    b = break_even(_model(monthly_volume=200_000, student_share=0.9))
    assert b.months == pytest.approx(13_500 / (200_000 * (0.9 * 0.0155 - 0.000435) - 1200))  # 8.98
    pts = cumulative_by_month(b, 24)
    assert len(pts) == 25 and pts[0].cost_usd == 13_500.0 and pts[0].savings_usd == 0.0
    first_ahead = next(p.month for p in pts if p.savings_usd >= p.cost_usd)
    assert first_ahead == math.ceil(b.months) == 9
    assert pts[5].cost_usd == pytest.approx(13_500 + 5 * b.running_monthly_usd)
    assert pts[5].savings_usd == pytest.approx(5 * b.gross_monthly_usd)
