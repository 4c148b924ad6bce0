"""The report counts people: review throughput and backlog, the teacher's error rate per category as
reviewers found it, and the curation cost (reviewed items x price per item) inside the break-even."""

from __future__ import annotations

from distillery.events import ReviewDecision
from serving.report.build import build_report
from serving.report.model import CategoryReview, ReportInputs
from serving.report.render_html import task_section
from serving.report.text import review_cost_line, review_line

T0 = 1_780_000_000_000


def _d(i: int, verdict: str, category: str, answer: str | None = None, at_min: int = 0) -> ReviewDecision:
    return ReviewDecision(task="transactions", decision_id=f"d-{i}", item_id=f"r-{i}", decision=verdict,
                          answer=answer, reviewer="ana", teacher_output=category, category=category,
                          decided_at_ms=T0 + at_min * 60_000)


def test_review_figures_and_their_cost_in_the_break_even(settings_factory) -> None:
    spec = settings_factory().task("transactions")
    decisions = (
        _d(0, "correct", "fast_food", "coffee_shops", 0), _d(1, "correct", "fast_food", "coffee_shops", 10),
        _d(2, "accept", "fast_food", None, 20), _d(3, "accept", "fuel", None, 30), _d(4, "skip", "fuel", None, 40),
        _d(5, "promote_gold", "groceries", None, 50), _d(5, "promote_gold", "groceries", None, 50),  # redelivered
        _d(6, "correct", "fuel", "fuel", 60),  # "corrected" to the teacher's own label: agreement
    )
    inputs = ReportInputs(spec=spec, reviewed=decisions, review_backlog=12, generated_at_ms=T0 + 61 * 60_000)
    r = build_report(inputs, given_share=0.5)
    v = r.review
    assert (v.decisions, v.reviewed, v.backlog, v.last_hour) == (7, 6, 12, 6)
    assert v.by_decision == {"accept": 2, "correct": 3, "promote_gold": 1, "skip": 1}
    assert v.per_hour == 7.0  # 7 decisions over the hour between the first and the last
    assert v.categories == (CategoryReview("fast_food", 3, 2), CategoryReview("fuel", 2, 0),
                            CategoryReview("groceries", 1, 0))
    assert v.cost_usd == 6 * spec.review.cost_per_item_usd == r.one_time_usd["human_review"]
    assert r.economics is not None and r.economics.one_time_usd == sum(r.one_time_usd.values())
    assert review_cost_line(r) == "human review (6 items x $0.25)"
    assert review_line(r) == ("review: 7 decisions (6 labeled), 7.0/h overall, 6 in the last hour; backlog 12 open; "
                              "teacher error rate as people found it: fast_food 66.7% of 3")
    assert "human review (6 items x $0.25)" in task_section(r)


def test_without_decisions_the_report_says_so() -> None:
    from distillery.taskspec import TaskSpec

    r = build_report(ReportInputs(spec=TaskSpec(name="t", kind="classification", labels=["a", "b"])))
    assert r.one_time_usd["human_review"] == 0.0
    assert review_line(r) == "review: no decisions yet; backlog unknown here"


def test_the_gold_line_gives_the_gold_sets_age_and_what_predates_the_last_drift(settings_factory) -> None:
    from distillery.events import DriftEvent
    from serving.report.model import GoldAge, StoreFacts
    from serving.report.text import gold_line

    day = 86_400_000
    store = StoreFacts(gold_count=4, gold_added_ms=(T0, T0 + day, T0 + 2 * day, T0 + 9 * day))
    drift = (DriftEvent(task="transactions", signal="category_mix", detector="ADWIN", event_ts_ms=T0 + 5 * day),)
    r = build_report(ReportInputs(spec=settings_factory().task("transactions"), store=store, drift=drift,
                                  generated_at_ms=T0 + 10 * day))
    assert r.gold_age == GoldAge(rows=4, median_age_days=8.5, oldest_age_days=10.0, last_drift_ms=T0 + 5 * day,
                                 before_drift=3)
    assert gold_line(r).endswith("; gold age median 8.5 d, oldest 10.0 d, 75.0% of it predates the last drift alarm")
