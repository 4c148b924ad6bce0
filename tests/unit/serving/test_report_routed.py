"""The report's student share and accuracy come from what was measured: routed traffic first, the gate's
calibration on gold next, nothing assumed; and the per-category table with the teacher's blind spots."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from distillery.events import AdapterPublished, AdapterRejected, GateMetrics, ModelScores, RoutedScores
from distillery.taskspec import EconomicsSpec, TaskSpec
from serving.report.build import build_report
from serving.report.data import TopicRecords, gather
from serving.report.decision import Thresholds
from serving.report.model import CategoryRow, ReportInputs, StoreFacts, TaskReport
from serving.report.render_html import render_page
from serving.report.render_json import to_json
from serving.report.render_terminal import render
from streams.store.db import StoreBatch, TaskStore, store_path

TASK = "transactions"
T0 = 1_700_000_000_000
SPEC = TaskSpec(name="cats", kind="classification", labels=["fuel", "groceries", "travel"],
                economics=EconomicsSpec(monthly_volume=2_000_000, teacher_prompt_tokens=500, student_prompt_tokens=40,
                                        eval_build_usd=3000, data_curation_usd=1000, monthly_ops_usd=500,
                                        monthly_serving_fixed_usd=200))


def _routed(coverage: float = 0.78, **kw: object) -> RoutedScores:
    base: dict[str, object] = dict(n=300, threshold=0.83, coverage=coverage, accuracy=0.955, student_accuracy=0.985,
                                   teacher_accuracy=0.96, method="cross_validation", folds=5)
    base.update(kw)
    return RoutedScores(**base)  # type: ignore[arg-type]


def _metrics(routed: RoutedScores | None = None, *, student: dict[str, float] | None = None,
             teacher: dict[str, float] | None = None, cand: float = 0.90, teach: float = 0.96) -> GateMetrics:
    return GateMetrics(gold_size=300, candidate=ModelScores(n=300, accuracy=cand, per_category=student or {}),
                       teacher=ModelScores(n=300, accuracy=teach, per_category=teacher or {}), routed=routed)


def _published(adapter: str, at: int, metrics: GateMetrics, coverage: float | None = None,
               task: str = "cats") -> AdapterPublished:
    return AdapterPublished(task=task, adapter_id=adapter, job_id=f"job-{adapter}", uri=f"/a/{adapter}",
                            sha256="0" * 64, base_model="smollm2-135m-instruct", student_prompt="Categorise.",
                            metrics=metrics, router_threshold=0.83, router_coverage=coverage, created_at_ms=at)


def _text(r: TaskReport) -> str:
    console = Console(record=True, width=200)
    render(r, console)
    return console.export_text()


def _row(text: str, first: str) -> list[str]:
    """The stripped cells of the terminal table row whose first cell is ``first``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 3 and cells[2] == first:
            return cells[2:-2]
    raise AssertionError(f"no row {first!r}")


# ------------------------------------------------------------------ measured
def _event(eid: str, route: str, output: str) -> tuple:
    return (eid, f"line {eid}", output, "m", route, 0.9, output, "labeled", T0, T0, 0, 0, 40, 5)


def _write_routed_store(settings) -> None:
    """120 routed requests: 90 answered by the student, 30 escalated.

    Of the student's: s0-s9 carry ground truth (8 right; s0 also has a disagreeing teacher label, which
    ground truth overrides), s10-s49 a teacher label (36 agree), s50-s59 only the student's own answer
    filed as a production label (not a check), s60-s89 nothing to check against. 44 of 50 right.
    """
    events = [_event(f"s{i}", "student", "fuel") for i in range(90)]
    events += [_event(f"t{i}", "teacher", "groceries") for i in range(30)]
    gold: list[tuple] = [(f"s{i}", f"line s{i}", "fuel" if i < 8 else "travel", "fuel", "event", None, None, T0)
            for i in range(10)]
    examples: list[tuple] = [("s0", "line s0", "groceries", "groceries", "teacher", "gpt-4.1", 0.9, "fuel", "train", 1, T0)]
    examples += [(f"s{i}", f"line s{i}", "fuel" if i < 46 else " Groceries", None, "teacher_batch" if i % 2 else
                  "teacher", "gpt-4.1", 0.9, "fuel", "train", 1, T0) for i in range(10, 50)]
    examples += [(f"s{i}", f"line s{i}", "travel", "travel", "production", None, None, "fuel", "train", 1, T0)
                 for i in range(50, 60)]
    TaskStore(store_path(settings, TASK)).write(StoreBatch(events=events, gold=gold, examples=examples))


def test_measured_share_and_accuracy_win_over_the_calibration_and_are_labeled(settings_factory) -> None:
    s = settings_factory()
    _write_routed_store(s)
    calibrated = _published("a2", 2000, _metrics(_routed(0.6)), coverage=0.6, task=TASK)
    r = build_report(gather(s, TASK, TopicRecords(published=(calibrated,))))

    assert (r.share.value, r.share.source, r.share.routed_events) == (0.75, "measured", 120)
    assert r.share.basis == "measured on 120 routed requests"
    assert (r.answered.value, r.answered.source, r.answered.n) == (pytest.approx(44 / 50), "measured", 50)
    assert r.answered.basis == ("measured on 50 answered requests (10 against ground truth, "
                                "40 against the teacher's label)")
    # the break-even runs on the measured share, not the gate's 60%
    assert r.economics is not None
    assert r.economics.escalation_monthly_usd == pytest.approx(10_000_000 * 0.25 * r.teacher.request_usd)

    text = _text(r)
    assert "student share 75.0% measured on 120 routed requests; router threshold 0.830 of a2" in text
    assert ("student accuracy on what it answers 88.0% measured on 50 answered requests (10 against ground "
            "truth, 40 against the teacher's label)") in text


def test_the_uniform_audit_share_measures_the_student_when_it_is_large_enough(settings_factory) -> None:
    from distillery.draws import is_student_audit

    base = settings_factory()
    spec = base.task(TASK)
    spec = spec.model_copy(update={"sampling": spec.sampling.model_copy(update={"student_audit_rate": 0.8})})
    s = base.with_overrides(tasks={**base.tasks, TASK: spec})
    _write_routed_store(s)
    r = build_report(gather(s, TASK, TopicRecords()))
    # which of the 50 checked answers the audit drew, and how many of those were right (as _write_routed_store says)
    right = {f"s{i}" for i in range(8)} | {f"s{i}" for i in range(10, 46)}
    drawn = [f"s{i}" for i in [*range(10), *range(10, 50)] if is_student_audit(f"s{i}", spec.sampling.seed, 0.8)]
    assert len(drawn) >= 30
    assert r.answered.n == len(drawn)
    assert r.answered.value == pytest.approx(sum(e in right for e in drawn) / len(drawn))
    assert r.answered.basis.startswith(f"measured on {len(drawn)} audited answers (a uniform 80% of its answers; "
                                       "88.0% on all 50 with a known answer)")


def test_store_with_no_answered_checks_reads_as_zero(settings_factory) -> None:
    s = settings_factory()
    TaskStore(store_path(s, TASK)).write(StoreBatch(events=[_event("s1", "student", "fuel")]))
    facts = gather(s, TASK, TopicRecords()).store
    assert (facts.routed_student, facts.answered.n, facts.answered.rate) == (1, 0, None)


# ---------------------------------------------------------------- calibrated
def test_without_routed_traffic_the_gates_calibration_is_used_and_labeled() -> None:
    a1 = _published("a1", 1000, _metrics(_routed(0.5)))
    a2 = _published("a2", 2000, _metrics(_routed(0.78)), coverage=0.81)
    r = build_report(ReportInputs(SPEC, StoreFacts(), published=(a1, a2), generated_at_ms=0))

    assert (r.share.value, r.share.source, r.share.routed_events) == (0.78, "calibrated", 0)
    assert r.share.basis == "calibrated on 300 gold rows, adapter a2, not yet measured"
    assert (r.answered.value, r.answered.source) == (0.985, "calibrated")
    assert r.answered.basis == "calibrated on 300 gold rows, adapter a2, not yet measured"
    assert r.economics is not None
    assert r.economics.escalation_monthly_usd == pytest.approx(2_000_000 * 0.22 * r.teacher.request_usd)

    text = _text(r)
    assert "student share 78.0% calibrated on 300 gold rows, adapter a2, not yet measured" in text
    assert "student accuracy on what it answers 98.5% calibrated on 300 gold rows, adapter a2, not yet measured" in text
    # the gate's coverage and routed accuracy beside the student-alone figures
    assert ("gold: 0 in the store; candidate (published) scored on 300: student alone 90.0%, teacher 96.0%; "
            "routed 95.5% at 78.0% student coverage (student on its share 98.5%; cross_validation, 300 rows)") in text


def test_calibration_falls_back_to_router_coverage_then_to_a_rejected_candidate() -> None:
    old = _published("a1", 1000, _metrics(), coverage=0.7)  # an older event: no routed figures
    newer_rejected = AdapterRejected(task="cats", job_id="r9", reason="gate", metrics=_metrics(_routed(0.6)),
                                     created_at_ms=5000)
    r = build_report(ReportInputs(SPEC, StoreFacts(), published=(old,), rejected=(newer_rejected,)))
    # the serving adapter comes first: its router_coverage, on its gold size
    assert (r.share.value, r.share.basis) == (0.7, "calibrated on 300 gold rows, adapter a1, not yet measured")
    # nothing published: the rejected candidate's routed coverage
    r = build_report(ReportInputs(SPEC, StoreFacts(), rejected=(newer_rejected,)))
    assert (r.share.value, r.share.basis) == (0.6, "calibrated on 300 gold rows, rejected job r9, not yet measured")
    assert r.evidence.source == "rejected" and r.evidence.routed is not None


def test_few_routed_requests_keep_the_calibration_with_a_note() -> None:
    a2 = _published("a2", 2000, _metrics(_routed(0.78)))
    r = build_report(ReportInputs(SPEC, StoreFacts(routed_student=3, routed_teacher=1), published=(a2,)))
    assert (r.share.value, r.share.source) == (0.78, "calibrated")
    assert any(n.startswith("4 routed requests are too few to measure the share") for n in r.notes)
    # with nothing calibrated, the few requests are measured, and said to be few
    r = build_report(ReportInputs(SPEC, StoreFacts(routed_student=3, routed_teacher=1)))
    assert (r.share.value, r.share.source, r.share.basis) == (0.75, "measured", "measured on 4 routed requests")
    assert any("measured on only 4 routed requests" in n for n in r.notes)


def test_given_share_overrides_and_is_labeled_an_assumption() -> None:
    a2 = _published("a2", 2000, _metrics(_routed(0.78)))
    r = build_report(ReportInputs(SPEC, StoreFacts(routed_student=900, routed_teacher=100), published=(a2,)),
                     given_share=0.5)
    assert (r.share.value, r.share.source, r.share.basis) == (0.5, "given", "assumed (--student-share)")
    assert "student share 50.0% assumed (--student-share)" in _text(r)


# ------------------------------------------------------------ no break-even
def test_no_share_measured_or_calibrated_prints_no_break_even() -> None:
    old = _published("a1", 1000, _metrics())  # no routed figures, no router_coverage
    r = build_report(ReportInputs(SPEC, StoreFacts(), published=(old,), generated_at_ms=0))
    assert (r.share.value, r.share.source) == (None, "none")
    assert r.economics is None and r.volume_needed is None and r.curve == ()
    volume = r.decision.row("volume")
    assert volume.passed is None
    assert volume.measured == "2,000,000 req/mo; no student share to compute a break-even from"

    text = _text(r)
    assert "student share: none (no routed traffic and no calibrated coverage), so no break-even" in text
    assert "none: no student share to compute a break-even from" in text
    assert "breaks even" not in text and "net savings" not in text and "months" not in text.replace(
        "within 12 months", "")

    page = render_page([r], generated_at_ms=0)
    assert "<svg" not in page.split('data-chart="agreement"')[0]  # no break-even chart
    assert "No student share measured, calibrated or given: no break-even to chart." in page
    doc = json.loads(to_json([r], 0))["tasks"]["cats"]
    assert doc["economics"] is None and doc["breaks_even"] is None and doc["break_even_months"] is None
    assert doc["share"]["value"] is None and doc["share"]["source"] == "none"


# ------------------------------------------------------------- per category
STUDENT = {"fuel": 0.6, "groceries": 0.99, "travel": 0.9}
TEACHER = {"fuel": 0.55, "groceries": 0.98, "travel": 0.65}


def test_per_category_table_marks_teacher_blind_spots_and_the_worst() -> None:
    routed = _routed(per_category={"fuel": 0.62, "groceries": 0.985, "travel": 0.7},
                     per_category_coverage={"fuel": 0.1, "groceries": 0.95, "travel": 0.5}, worst_category="fuel")
    a2 = _published("a2", 2000, _metrics(routed, student=STUDENT, teacher=TEACHER))
    # travel: the teacher is below 70% but on 2 gold rows, under the gate's min_category_support of 3
    store = StoreFacts(gold_by_category={"fuel": 40, "groceries": 200, "travel": 2})
    r = build_report(ReportInputs(SPEC, store, published=(a2,), generated_at_ms=0))

    assert r.categories == (
        CategoryRow("fuel", 40, 0.6, 0.55, 0.62, 0.1, blind_spot=True, worst=True),
        CategoryRow("groceries", 200, 0.99, 0.98, 0.985, 0.95, blind_spot=False, worst=False),
        CategoryRow("travel", 2, 0.9, 0.65, 0.7, 0.5, blind_spot=False, worst=False),
    )
    assert (r.worst_category, r.worst_basis, r.blind_spot_accuracy) == ("fuel", "routed system", 0.7)
    assert any(n.startswith("Teacher blind spots (below 70.0% on gold): fuel 55.0%;") for n in r.notes)

    text = _text(r)
    assert "Per category on gold (worst: fuel, routed system)" in text
    assert _row(text, "fuel") == ["fuel", "40", "60.0%", "55.0%", "62.0%", "10.0%", "worst, teacher blind spot"]
    assert _row(text, "travel") == ["travel", "2", "90.0%", "65.0%", "70.0%", "50.0%", ""]

    page = render_page([r], generated_at_ms=0)
    assert page.count('<tr class="blind worst"><td>fuel</td>') == 1
    assert '<tr><td>travel</td><td class="num">2</td>' in page
    doc = json.loads(to_json([r], 0))["tasks"]["cats"]
    assert doc["categories"][0] == {"category": "fuel", "support": 40, "student": 0.6, "teacher": 0.55,
                                    "routed": 0.62, "coverage": 0.1, "blind_spot": True, "worst": True}
    assert doc["worst_category"] == "fuel"


def test_unknown_support_does_not_hide_a_blind_spot_and_a_higher_bar_finds_more() -> None:
    a2 = _published("a2", 2000, _metrics(_routed(), student=STUDENT, teacher=TEACHER))
    r = build_report(ReportInputs(SPEC, StoreFacts(), published=(a2,)))  # no store: support unknown
    assert [(c.category, c.support, c.blind_spot) for c in r.categories] == [
        ("fuel", None, True), ("groceries", None, False), ("travel", None, True)]
    # no routed per-category figures: the student's worst is named
    assert (r.worst_category, r.worst_basis) == ("fuel", "student alone")
    higher = build_report(ReportInputs(SPEC, StoreFacts(), published=(a2,)), Thresholds(blind_spot_accuracy=0.99))
    assert [c.category for c in higher.categories if c.blind_spot] == ["fuel", "groceries", "travel"]
    assert _row(_text(r), "travel") == ["travel", "?", "90.0%", "65.0%", "n/a", "n/a",
                                         "teacher blind spot"]


def test_older_events_without_routed_figures_still_render() -> None:
    a1 = _published("a1", 1000, GateMetrics(gold_size=250, candidate=ModelScores(
        n=250, accuracy=0.93, per_category={"fuel": 0.8, "groceries": 0.99}, worst_category="fuel")), coverage=0.8)
    r = build_report(ReportInputs(SPEC, StoreFacts(), published=(a1,), generated_at_ms=0))
    assert r.evidence.routed is None and r.answered.source == "none"
    assert [(c.category, c.student, c.teacher, c.routed, c.coverage, c.blind_spot) for c in r.categories] == [
        ("fuel", 0.8, None, None, None, False), ("groceries", 0.99, None, None, None, False)]
    assert r.decision.row("match").measured == "no candidate and teacher scores to compare"
    text = _text(r)
    assert "student accuracy on what it answers: unknown (no answered request with a known answer" in text
    assert "gold: 0 in the store; candidate (published) scored on 250: student alone 93.0%, teacher n/a; " \
           "no routed figures in this adapter event" in text
    assert _row(text, "fuel") == ["fuel", "?", "80.0%", "n/a", "n/a", "n/a", "worst"]
    assert "<td>fuel</td>" in render_page([r], generated_at_ms=0)
    assert json.loads(to_json([r], 0))["tasks"]["cats"]["evidence"]["routed"] is None

    bare = _published("a0", 500, GateMetrics(gold_size=10, candidate=ModelScores(n=10, accuracy=0.5)))
    r = build_report(ReportInputs(SPEC, StoreFacts(), published=(bare,), generated_at_ms=0))
    assert r.categories == () and r.worst_category is None
    assert "per category: no per-category gold scores in the adapter events" in _text(r)
    assert "No per-category gold scores in the adapter events." in render_page([r], generated_at_ms=0)


# ----------------------------------------------------------------- verdict
def test_the_verdict_judges_the_routed_system_against_the_teacher() -> None:
    big = SPEC.model_copy(update={"economics": SPEC.economics.model_copy(update={"monthly_volume": 50_000_000})})
    # the student alone is 6 points below the teacher, but behind the router it holds the teacher's accuracy
    a2 = _published("a2", 2000, _metrics(_routed(), cand=0.90, teach=0.96))
    r = build_report(ReportInputs(big, StoreFacts(), published=(a2,)))
    match = r.decision.row("match")
    assert match.passed is True and match.threshold == "routed system >= teacher - 1.0%"
    assert match.measured == ("routed 95.5% at 78.0% student coverage vs teacher 96.0% (-0.5 pts); "
                              "student alone 90.0%")
    assert r.decision.verdict == "route_only"
    assert r.decision.headline.startswith("Route only: the student alone is below the bar (accuracy 90.0%); "
                                          "behind the router it holds the teacher's accuracy, so let it answer "
                                          "its confident 78.0% and escalate the rest; breaks even in ")
    # the routed system itself below the teacher: keep the teacher, whatever the student alone scored
    low = _published("a3", 3000, _metrics(_routed(accuracy=0.93), cand=0.97, teach=0.96))
    r = build_report(ReportInputs(big, StoreFacts(), published=(low,)))
    assert r.decision.verdict == "below_teacher" and r.decision.row("match").passed is False
    assert r.decision.headline == ("Don't: even behind the router the student costs accuracy (routed 93.0% at "
                                   "78.0% student coverage vs teacher 96.0% (-3.0 pts); student alone 97.0%); "
                                   "keep the teacher")
    assert 'class="verdict v-below_teacher"' in render_page([r], generated_at_ms=0)
