"""The break-even cost model of distillation (pure).

Serving is a cascade: the student answers every request (its confidence decides
the route), and the share it is not sure of is escalated to the teacher, which
answers it again. So against a teacher-only baseline the student saves
``volume × (teacher − student)`` per month before running costs (the gross
savings), and the running costs are the monthly ops, the fixed serving cost and
the teacher bill of the escalated share. What was spent to get there (labels,
training, the eval, data curation) is paid back by the net monthly savings.

>>> m = CostModel(teacher_request_usd=0.01, student_request_usd=0.001, monthly_volume=100_000,
...               student_share=0.8, one_time_usd={"eval_build": 2_000.0}, monthly_fixed_usd=100.0)
>>> b = break_even(m)
>>> round(b.gross_monthly_usd, 2), round(b.escalation_monthly_usd, 2), round(b.net_monthly_usd, 2)
(900.0, 200.0, 600.0)
>>> round(b.months, 3), round(volume_for_break_even(m, 12.0))
(3.333, 38095)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

MTOK = 1_000_000


def request_usd(prompt_tokens: float, completion_tokens: float, price_in_per_mtok: float,
                price_out_per_mtok: float) -> float:
    """USD of one request from its token counts and per-million-token prices.

    >>> request_usd(250, 10, 2.0, 8.0)
    0.00058
    """
    return (prompt_tokens * price_in_per_mtok + completion_tokens * price_out_per_mtok) / MTOK


@dataclass(frozen=True)
class CostModel:
    """Everything the break-even needs: per-request costs, traffic, fixed and running costs."""

    teacher_request_usd: float
    student_request_usd: float
    monthly_volume: float
    student_share: float
    one_time_usd: Mapping[str, float] = field(default_factory=dict)
    monthly_fixed_usd: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.student_share <= 1.0:
            raise ValueError(f"student_share: {self.student_share!r} is not a share; give a value in 0..1")

    @property
    def one_time_total_usd(self) -> float:
        return float(sum(self.one_time_usd.values()))


@dataclass(frozen=True)
class BreakEven:
    """Monthly money of the cascade against the teacher alone, and months to pay back."""

    teacher_only_monthly_usd: float
    distilled_monthly_usd: float
    gross_monthly_usd: float
    escalation_monthly_usd: float
    running_monthly_usd: float
    net_monthly_usd: float
    one_time_usd: float
    months: float


def break_even(m: CostModel) -> BreakEven:
    """Gross and net monthly savings and the months to break even (``inf`` when net ≤ 0)."""
    gross = m.monthly_volume * (m.teacher_request_usd - m.student_request_usd)
    escalation = m.monthly_volume * (1.0 - m.student_share) * m.teacher_request_usd
    running = m.monthly_fixed_usd + escalation
    net = gross - running
    one_time = m.one_time_total_usd
    months = one_time / net if net > 0 else math.inf
    teacher_only = m.monthly_volume * m.teacher_request_usd
    return BreakEven(
        teacher_only_monthly_usd=teacher_only,
        distilled_monthly_usd=teacher_only - net,
        gross_monthly_usd=gross,
        escalation_monthly_usd=escalation,
        running_monthly_usd=running,
        net_monthly_usd=net,
        one_time_usd=one_time,
        months=months,
    )


def volume_for_break_even(m: CostModel, horizon_months: float) -> float:
    """The smallest monthly volume that breaks even within ``horizon_months`` (``inf``: none does).

    Each request nets ``share × teacher − student`` (the student runs on all of them,
    the teacher is no longer paid on the answered share), which must cover the
    fixed monthly costs plus the one-time costs spread over the horizon.
    """
    if horizon_months <= 0:
        raise ValueError(f"horizon_months: {horizon_months!r}; give a positive number of months")
    margin = m.student_share * m.teacher_request_usd - m.student_request_usd
    if margin <= 0:
        return math.inf
    return (m.one_time_total_usd / horizon_months + m.monthly_fixed_usd) / margin


@dataclass(frozen=True)
class MonthPoint:
    """Cumulative cost of the distilled setup and cumulative gross savings after ``month`` months."""

    month: int
    cost_usd: float
    savings_usd: float


def cumulative_by_month(b: BreakEven, months: int) -> list[MonthPoint]:
    """Month 0..``months``: costs start at the one-time spend, savings at zero; they cross at break-even.

    >>> b = break_even(CostModel(0.01, 0.0, 1000, 1.0, {"x": 15.0}))
    >>> [(p.month, p.cost_usd, p.savings_usd) for p in cumulative_by_month(b, 2)]
    [(0, 15.0, 0.0), (1, 15.0, 10.0), (2, 15.0, 20.0)]
    """
    return [MonthPoint(i, b.one_time_usd + i * b.running_monthly_usd, i * b.gross_monthly_usd)
            for i in range(months + 1)]
