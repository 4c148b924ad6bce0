"""Sampling decisions: reproducible, at the configured rates, with every skip reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distillery.errors import UnknownTaskError
from distillery.events import InferenceEvent
from distillery.settings import load_settings
from distillery.taskspec import TaskSpec
from streams.sampling import Outcome, Sampler, TaskSampler, draw

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def demo_spec(**sampling: Any) -> TaskSpec:
    spec = load_settings(ROOT / "distillery.toml", env={}).task("transactions")
    if sampling:
        spec = spec.model_copy(update={"sampling": spec.sampling.model_copy(update=sampling)})
    return spec


def ev(i: int, text: str | None = None, **kw: Any) -> InferenceEvent:
    return InferenceEvent(event_id=f"e-{i}", task="transactions", input=text or f"MERCHANT {i:06d} X{i}", **kw)


def unique_text(i: int) -> str:
    # distinct after digit masking and far apart in 3-grams, so dedupe never interferes
    letters = "".join(chr(65 + (i // 26**k) % 26) for k in range(4))
    return f"SHOP {letters} {letters[::-1]}Q"


def test_decisions_are_reproducible_and_redeliveries_match() -> None:
    a, b = TaskSampler(demo_spec(), clock=Clock()), TaskSampler(demo_spec(), clock=Clock())
    da = [a.decide(ev(i, unique_text(i))).outcome for i in range(300)]
    db = [b.decide(ev(i, unique_text(i))).outcome for i in range(300)]
    assert da == db
    assert draw("e-7", 0) == a.decide(ev(7, unique_text(7))).draw  # a redelivery draws the same number
    assert draw("e-7", 0) != draw("e-7", 1)


def test_base_rate_over_a_seeded_stream() -> None:
    s = TaskSampler(demo_spec(), clock=Clock())
    outcomes = [s.decide(ev(i, unique_text(i))).outcome for i in range(10_000)]
    called = outcomes.count(Outcome.CALL_TEACHER)
    assert called == 1939  # base_rate 0.2: 2000 expected, sd 40
    assert outcomes.count(Outcome.SKIP_RATE) == 10_000 - called
    assert s.counters == {"call_teacher": called, "skip_rate": 10_000 - called}


def test_low_confidence_raises_the_rate() -> None:
    s = TaskSampler(demo_spec(), clock=Clock())
    decisions = [s.decide(ev(i, unique_text(i), confidence=0.3)) for i in range(2000)]
    assert {d.rate for d in decisions} == {0.8}
    assert {d.reason for d in decisions} == {"low_confidence"}
    assert sum(d.outcome is Outcome.CALL_TEACHER for d in decisions) == 1603  # rate 0.8: 1600 expected
    confident = s.decide(ev(5000, unique_text(5000), confidence=0.6))  # not below 0.6
    assert (confident.rate, confident.reason) == (0.2, "base_rate")


def test_drift_boost_lasts_drift_boost_minutes() -> None:
    clock = Clock()
    s = Sampler({"transactions": demo_spec()}, clock=clock)
    s.on_drift("transactions", at_ms=int(T0 * 1000))
    clock.t = T0 + 29 * 60
    d = s.decide(ev(1, unique_text(1)))
    assert (d.rate, d.reason) == (0.8, "drift_boost")
    clock.t = T0 + 30 * 60
    d = s.decide(ev(2, unique_text(2)))
    assert (d.rate, d.reason) == (0.2, "base_rate")


def test_a_drift_time_in_the_future_boosts_from_now_not_until_then() -> None:
    clock = Clock()
    s = Sampler({"transactions": demo_spec()}, clock=clock)
    s.on_drift("transactions", at_ms=int(T0 * 1000) + 10 * 365 * 86_400_000)  # ten years ahead
    clock.t = T0 + 29 * 60
    assert s.decide(ev(1, unique_text(1))).reason == "drift_boost"
    clock.t = T0 + 30 * 60
    assert (s.decide(ev(2, unique_text(2))).rate, s.decide(ev(3, unique_text(3))).reason) == (0.2, "base_rate")


def test_teacher_answered_events_are_production_labels() -> None:
    s = TaskSampler(demo_spec(budget_usd_per_hour=0.0, budget_usd_per_day=0.0), clock=Clock())
    d = s.decide(ev(1, "STARBUCKS #12 SEATTLE", model="gpt-4.1", output="coffee_shops"))
    assert d.outcome is Outcome.PRODUCTION_LABEL and d.reservation is None and d.estimate_usd == 0.0
    again = s.decide(ev(2, "STARBUCKS #99 SEATTLE", model="gpt-4.1", output="coffee_shops"))
    assert (again.outcome, again.reason) == (Outcome.SKIP_DUPLICATE, "duplicate_exact")
    student = s.decide(ev(3, "PEETS #1", model="smollm2", output="coffee_shops"))
    no_output = s.decide(ev(4, "PEETS #2", model="gpt-4.1"))
    assert Outcome.PRODUCTION_LABEL not in (student.outcome, no_output.outcome)


def test_sampled_duplicates_are_skipped_and_unsampled_ones_not_remembered() -> None:
    s = TaskSampler(demo_spec(base_rate=1.0), clock=Clock())
    first = s.decide(ev(1, "SQ *BLUE BOTTLE COFFEE OAKLAND CA"))
    exact = s.decide(ev(2, "SQ *BLUE BOTTLE COFFEE  oakland ca"))
    near = s.decide(ev(3, "SQ *BLUE BOTTLE COFFEE OAKLAND C"))
    assert [first.outcome, exact.outcome, near.outcome] == [
        Outcome.CALL_TEACHER, Outcome.SKIP_DUPLICATE, Outcome.SKIP_DUPLICATE]
    assert (exact.reason, near.reason) == ("duplicate_exact", "duplicate_near")
    rate0 = TaskSampler(demo_spec(base_rate=0.0), clock=Clock())
    assert rate0.decide(ev(1, "KROGER AUSTIN")).outcome is Outcome.SKIP_RATE
    assert len(rate0.deduper) == 0


def test_failed_label_is_forgotten_so_a_duplicate_can_retry() -> None:
    s = TaskSampler(demo_spec(base_rate=1.0), clock=Clock())
    d = s.decide(ev(1, "NETFLIX.COM"))
    s.settle(d, 0.0, labeled=False)
    assert s.decide(ev(2, "NETFLIX.COM")).outcome is Outcome.CALL_TEACHER


def test_budget_skips_once_spent_and_reports_the_pause_once() -> None:
    clock = Clock(T0 + 5)
    s = TaskSampler(demo_spec(base_rate=1.0, budget_usd_per_hour=0.005), clock=clock)
    decisions = [s.decide(ev(i, unique_text(i))) for i in range(12)]
    outcomes = [d.outcome for d in decisions]
    n_called = outcomes.count(Outcome.CALL_TEACHER)
    # 1233 prompt chars -> 309 tokens in; longest label 22 chars -> 8 out; at 2 and 8 USD per Mtok
    assert decisions[0].estimate_usd == pytest.approx(0.000682)
    assert n_called == 7
    assert outcomes == [Outcome.CALL_TEACHER] * 7 + [Outcome.SKIP_BUDGET] * 5
    paused = [t for d in decisions for t in d.transitions]
    assert [(t.kind, t.window) for t in paused] == [("paused", "hour")]
    assert decisions[7].transitions == tuple(paused)  # attached to the first refused decision
    clock.t = T0 + 3600
    d = s.decide(ev(100, unique_text(100)))
    assert d.outcome is Outcome.CALL_TEACHER and [t.kind for t in d.transitions] == ["resumed"]
    assert s.counters == {"call_teacher": 8, "skip_budget": 5}


def test_settle_charges_the_real_cost_and_teaches_the_estimate() -> None:
    s = TaskSampler(demo_spec(base_rate=1.0), clock=Clock())
    d = s.decide(ev(1, unique_text(1)))
    assert s.budget.spent_hour == pytest.approx(d.estimate_usd)
    s.settle(d, 0.0001, prompt_tokens=d.prompt_chars // 8, completion_tokens=2)
    assert s.budget.spent_hour == pytest.approx(0.0001)
    d2 = s.decide(ev(2, unique_text(2)))  # half the prompt tokens chars/4 predicted, 2 out
    assert d2.estimate_usd == pytest.approx((154 * 2.0 + 2 * 8.0) / 1e6)


def test_batch_teachers_get_batch_decisions_at_half_price() -> None:
    spec = demo_spec(base_rate=1.0)
    online = TaskSampler(spec, clock=Clock()).decide(ev(1, "KROGER AUSTIN"))
    batch_spec = spec.model_copy(update={"teacher": spec.teacher.model_copy(update={"batch": True})})
    batch = TaskSampler(batch_spec, clock=Clock()).decide(ev(1, "KROGER AUSTIN"))
    assert (online.outcome, batch.outcome) == (Outcome.CALL_TEACHER, Outcome.CALL_TEACHER_BATCH)
    assert batch.calls_teacher and batch.estimate_usd == pytest.approx(online.estimate_usd / 2)


def test_unknown_task_is_refused_naming_the_known_ones() -> None:
    s = Sampler({"transactions": demo_spec()})
    bad = InferenceEvent(event_id="e", task="nope", input="x")
    with pytest.raises(UnknownTaskError, match="'nope' is not declared; declared tasks: transactions"):
        s.decide(bad)
    assert s.counters() == {"transactions": {}}


def test_a_uniform_audit_share_of_student_answers_is_labeled_even_when_duplicated() -> None:
    from distillery.draws import is_student_audit

    s = TaskSampler(demo_spec(base_rate=0.0, low_confidence_rate=0.0, drift_boost_rate=0.0,
                              student_audit_rate=0.1), clock=Clock())
    teacher = demo_spec().teacher.model  # the input is labeled once, from a production answer of the teacher
    first = s.decide(ev(0, "STARBUCKS #1 SEATTLE", model=teacher, output="coffee_shops"))
    assert first.outcome is Outcome.PRODUCTION_LABEL
    outcomes = {i: s.decide(ev(i, "STARBUCKS #1 SEATTLE", route="student", confidence=0.99))
                for i in range(1, 2001)}
    audited = {i for i in outcomes if is_student_audit(f"e-{i}", 0, 0.1)}
    assert len(audited) == 194  # 10% of 2,000 drawn: 200 expected, sd 13
    # the audit draw decides alone: every drawn duplicate is labeled, every other one skipped
    assert {i for i, d in outcomes.items() if d.outcome is Outcome.CALL_TEACHER} == audited
    assert {outcomes[i].reason for i in audited} == {"student_audit"}
    assert all(outcomes[i].dedupe_key is None for i in audited)  # the original's dedupe memory stays
    # not the student's answer: no audit, the rate (0 here) decides
    assert s.decide(ev(5000, "STARBUCKS #1 SEATTLE", route="teacher", confidence=0.99)).outcome is Outcome.SKIP_RATE
    assert s.decide(ev(5001, "NEW SHOP", confidence=0.99)).outcome is Outcome.SKIP_RATE
