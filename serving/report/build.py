"""Turn what was measured about a task into its break-even report (pure).

Where a number is measured it wins over the spec: request tokens come from
served events (else the labeling calls, else the spec's token counts, else a
characters/4 estimate of the prompts). The student's share of traffic, and its
accuracy on what it answers, are never a flat assumption:

* measured on routed events in the store (``route`` = student|teacher; accuracy
  against the event's ground truth, else the teacher's label for the same event),
  once there are ``MIN_ROUTED_EVENTS`` routed events (``MIN_CHECKED_ANSWERS``
  checked answers);
* else calibrated on the gold set by the gate (``metrics.routed`` of the evidence
  adapter, else of the newest other adapter event; the share falls back to a published
  adapter's ``router_coverage``), labeled as not yet measured;
* else measured on whatever routed traffic exists, however little;
* else there is none, and the report computes no break-even.

``--student-share`` overrides the share and is labeled as an assumption.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from distillery.events import AdapterPublished, GateMetrics
from distillery.taskspec import TaskSpec
from serving.economics import (
    BreakEven,
    CostModel,
    MonthPoint,
    break_even,
    cumulative_by_month,
    request_usd,
    volume_for_break_even,
)
from serving.report.decision import DEFAULT_THRESHOLDS, DecisionInputs, Thresholds, decide
from serving.report.fmt import count, pct
from serving.report.model import (
    CategoryReview,
    CategoryRow,
    DriftStats,
    EvalEvidence,
    GoldAge,
    PathCost,
    ReportInputs,
    ReviewStats,
    RoutedEvidence,
    StoreFacts,
    StudentAccuracy,
    StudentShare,
    TaskReport,
    TrainingSpend,
)
from streams.teacher.cost import CostEstimator, tokens_from_chars

MIN_ROUTED_EVENTS = 100
"""Routed events needed before their student share replaces the gate's calibrated coverage."""

MIN_CHECKED_ANSWERS = 30
"""Student answers with a known answer needed before their accuracy replaces the gate's calibration."""

MAX_CURVE_MONTHS = 60
DAY_MS = 86_400_000


def _prompt_estimate(system_prompt: str, store: StoreFacts) -> float:
    return float(tokens_from_chars(len(system_prompt) + round(store.avg_input_chars or 0)))


def path_costs(spec: TaskSpec, store: StoreFacts) -> tuple[PathCost, PathCost]:
    """Average request of the teacher path and of the student path, and their prices."""
    t, s, econ = spec.teacher, spec.student, spec.economics
    if store.teacher_usage and store.teacher_usage.n:
        u = store.teacher_usage
        tp, tc, tsrc = u.prompt_tokens, u.completion_tokens, f"measured: {u.n} teacher-answered events"
    elif store.labeling_usage and store.labeling_usage.n:
        u = store.labeling_usage
        tp, tc, tsrc = u.prompt_tokens, u.completion_tokens, f"measured: {u.n} labeling calls"
    else:
        tc = CostEstimator(spec).completion_tokens
        if econ.teacher_prompt_tokens:
            tp, tsrc = float(econ.teacher_prompt_tokens), "spec: teacher_prompt_tokens"
        else:
            tp, tsrc = _prompt_estimate(t.prompt, store), "estimate: teacher prompt + input, chars/4"
    if store.student_usage and store.student_usage.n:
        u = store.student_usage
        sp, sc, ssrc = u.prompt_tokens, u.completion_tokens, f"measured: {u.n} student-answered events"
    elif econ.student_prompt_tokens:
        sp, sc, ssrc = float(econ.student_prompt_tokens), tc, "spec: student_prompt_tokens; answer as the teacher's"
    else:
        sp, sc = _prompt_estimate(s.system_prompt, store), tc
        ssrc = "estimate: student prompt + input, chars/4; answer as the teacher's"
    teacher = PathCost("teacher", tp, tc, tsrc, request_usd(tp, tc, t.price_input_per_mtok, t.price_output_per_mtok))
    student = PathCost("student", sp, sc, ssrc, request_usd(sp, sc, s.price_input_per_mtok, s.price_output_per_mtok))
    return teacher, student


def _latest(published: list[AdapterPublished]) -> AdapterPublished | None:
    return max(published, key=lambda p: p.created_at_ms, default=None)


@dataclass(frozen=True)
class Scored:
    """An adapter event that carries gold-set scores: a published adapter or a rejected candidate."""

    name: str
    adapter_id: str | None
    job_id: str
    created_at_ms: int
    metrics: GateMetrics
    router_coverage: float | None
    published: bool


def scored_events(inputs: ReportInputs) -> list[Scored]:
    """The task's scored adapter events, the evidence first (latest published, else latest rejected),
    then the others newest first."""
    task = inputs.spec.name
    published = [Scored(f"adapter {p.adapter_id}", p.adapter_id, p.job_id, p.created_at_ms, p.metrics,
                        p.router_coverage, True) for p in inputs.published if p.task == task]
    rejected = [Scored(f"rejected job {r.job_id}", None, r.job_id, r.created_at_ms, r.metrics, None, False)
                for r in inputs.rejected if r.task == task and r.metrics is not None]
    newest = sorted(published + rejected, key=lambda x: -x.created_at_ms)
    first = next((x for x in newest if x.published), newest[0] if newest else None)
    return [] if first is None else [first] + [x for x in newest if x is not first]


def calibrated_coverage(inputs: ReportInputs) -> tuple[float, int, str] | None:
    """Coverage, gold rows and adapter of the calibration the break-even falls back on.

    The first of :func:`scored_events` (the evidence adapter, then the others newest first,
    published or rejected) that carries the gate's out-of-sample ``metrics.routed.coverage``
    or, an older published event, its ``router_coverage``; ``None`` when none carries either.
    """
    for ev in scored_events(inputs):
        if ev.metrics.routed is not None:
            return ev.metrics.routed.coverage, ev.metrics.routed.n, ev.name
        if ev.router_coverage is not None:
            return ev.router_coverage, ev.metrics.gold_size, ev.name
    return None


def student_share(inputs: ReportInputs, given: float | None = None) -> StudentShare:
    """The student's answered share: given, else measured on routed events, else calibrated on gold.

    Measured needs ``MIN_ROUTED_EVENTS`` routed events while a calibration exists to fall
    back on; with none, any routed traffic is measured. With neither the share is ``None``.
    """
    latest = _latest([p for p in inputs.published if p.task == inputs.spec.name])
    threshold = latest.router_threshold if latest else None
    adapter = latest.adapter_id if latest else None
    st = inputs.store
    routed = st.routed_student + st.routed_teacher
    if given is not None:
        return StudentShare(given, "given", "assumed (--student-share)", routed, threshold, adapter)
    measured = StudentShare(st.routed_student / routed if routed else None, "measured",
                            f"measured on {count(routed)} routed requests", routed, threshold, adapter)
    if routed >= MIN_ROUTED_EVENTS:
        return measured
    cal = calibrated_coverage(inputs)
    if cal is not None:
        value, rows, name = cal
        return StudentShare(value, "calibrated", f"calibrated on {count(rows)} gold rows, {name}, not yet measured",
                            routed, threshold, adapter)
    if routed:
        return measured
    return StudentShare(None, "none", "no routed traffic and no calibrated coverage", routed, threshold, adapter)


def student_accuracy(inputs: ReportInputs) -> StudentAccuracy:
    """The student's accuracy on what it answers: measured on routed events, else the gate's calibration."""
    chk = inputs.store.answered
    if chk.audited >= MIN_CHECKED_ANSWERS:  # a uniform sample of its answers: no lean to new inputs
        share = inputs.spec.sampling.student_audit_rate
        return StudentAccuracy(chk.audited_rate, "measured",
                               f"measured on {count(chk.audited)} audited answers (a uniform {share:.0%} of its "
                               f"answers; {chk.rate:.1%} on all {count(chk.n)} with a known answer)", chk.audited)
    measured = StudentAccuracy(
        chk.rate, "measured", f"measured on {count(chk.n)} answered requests ({count(chk.ground_truth)} against "
        f"ground truth, {count(chk.n - chk.ground_truth)} against the teacher's label)", chk.n)
    if chk.n >= MIN_CHECKED_ANSWERS:
        return measured
    for ev in scored_events(inputs):
        r = ev.metrics.routed
        if r is not None and r.student_accuracy is not None:
            return StudentAccuracy(r.student_accuracy, "calibrated",
                                   f"calibrated on {count(r.n)} gold rows, {ev.name}, not yet measured", r.n)
    if chk.n:
        return measured
    return StudentAccuracy(None, "none", "no answered request with a known answer and no calibrated figure", 0)


def training_spend(inputs: ReportInputs) -> TrainingSpend:
    """Seconds of every distinct training run (adapters published or rejected) × the GPU hour."""
    task = inputs.spec.name
    runs = {("published", p.adapter_id): p.training for p in inputs.published if p.task == task}
    runs.update({("rejected", r.job_id): r.training for r in inputs.rejected if r.task == task})
    seconds = [t.seconds for t in runs.values() if t is not None]
    hours = sum(seconds) / 3600
    return TrainingSpend(len(seconds), hours, hours * inputs.spec.economics.gpu_hour_usd)


def drift_stats(inputs: ReportInputs) -> DriftStats:
    """Alarms of the task, grouped into episodes separated by more than a retrain cooldown."""
    events = sorted((d for d in inputs.drift if d.task == inputs.spec.name), key=lambda d: d.detected_at_ms)
    gap_ms = inputs.spec.retrain.cooldown_minutes * 60_000
    episodes = 0
    last: int | None = None
    for d in events:
        if last is None or d.detected_at_ms - last > gap_ms:
            episodes += 1
        last = d.detected_at_ms
    st = inputs.store
    span = (st.last_ms - st.first_ms) / DAY_MS if st.first_ms is not None and st.last_ms is not None else None
    span = span if span else None
    return DriftStats(
        alarms=len(events), episodes=episodes, events_seen=st.events_seen, span_days=span,
        per_100k_events=episodes * 100_000 / st.events_seen if st.events_seen else None,
        per_week=episodes / (span / 7) if span else None,
        by_signal=dict(Counter(d.signal for d in events)),
    )


def _worst(metrics: GateMetrics) -> tuple[str | None, float | None]:
    c = metrics.candidate
    if c.worst_category is not None and c.worst_category in c.per_category:
        return c.worst_category, c.per_category[c.worst_category]
    if c.per_category:
        name = min(c.per_category, key=lambda k: (c.per_category[k], k))
        return name, c.per_category[name]
    return None, None


def _routed(metrics: GateMetrics) -> RoutedEvidence | None:
    r = metrics.routed
    if r is None:
        return None
    return RoutedEvidence(r.n, r.threshold, r.coverage, r.accuracy, r.student_accuracy, r.teacher_accuracy,
                          r.worst_category, r.method, r.folds)


def eval_evidence(inputs: ReportInputs) -> EvalEvidence:
    """Gold-set scores of the serving adapter (latest published), else of the latest scored candidate."""
    scored = scored_events(inputs)
    if not scored:
        return EvalEvidence("none", None, None, 0, inputs.store.gold_count, None, None, None, None)
    ev = scored[0]
    metrics = ev.metrics
    worst, worst_acc = _worst(metrics)
    return EvalEvidence("published" if ev.published else "rejected", ev.adapter_id, ev.job_id, metrics.gold_size,
                        inputs.store.gold_count, metrics.candidate.accuracy,
                        metrics.teacher.accuracy if metrics.teacher else None, worst, worst_acc, _routed(metrics))


def category_rows(metrics: GateMetrics | None, support: Mapping[str, int], min_support: int,
                  blind_spot_accuracy: float) -> tuple[tuple[CategoryRow, ...], str | None, str | None]:
    """Every category the gate scored: student alone, teacher, routed system, student coverage.

    A *teacher blind spot* is a category where the teacher's gold accuracy is below
    ``blind_spot_accuracy`` and the task's gold table holds at least ``min_support`` rows
    of it (the gate's ``min_category_support``; unknown support does not hide it): the
    student is trained on the teacher's labels, so it copies those mistakes.
    The worst category is the routed system's (the gate's ``routed.worst_category``,
    else its lowest supported category) when routed figures exist, else the student's.
    Returns the rows, the worst category and whose figure made it worst.
    """
    if metrics is None:
        return (), None, None
    student = metrics.candidate.per_category
    teacher = metrics.teacher.per_category if metrics.teacher else {}
    routed = metrics.routed.per_category if metrics.routed else {}
    coverage = metrics.routed.per_category_coverage if metrics.routed else {}
    names = sorted(set(student) | set(teacher) | set(routed) | set(coverage))

    def enough(c: str) -> bool:
        n = support.get(c)
        return n is None or n >= min_support

    worst: str | None = None
    basis: str | None = None
    if routed:
        named = metrics.routed.worst_category if metrics.routed else None
        supported = [c for c in routed if enough(c)] or list(routed)
        worst = named if named in routed else min(supported, key=lambda c: (routed[c], c))
        basis = "routed system"
    elif student:
        worst, basis = _worst(metrics)[0], "student alone"
    rows = tuple(
        CategoryRow(c, support.get(c), student.get(c), teacher.get(c), routed.get(c), coverage.get(c),
                    blind_spot=c in teacher and teacher[c] < blind_spot_accuracy - 1e-12 and enough(c),
                    worst=c == worst)
        for c in names)
    return rows, worst, basis


def recovery_events(spec: TaskSpec) -> float:
    """Events the stream needs after a drift to gather one retrain's fresh labels."""
    s = spec.sampling
    rate = max(s.base_rate, s.drift_boost_rate if s.drift_boost_minutes > 0 else 0.0)
    return spec.retrain.min_new_examples / rate if rate > 0 else math.inf


REVIEWED = ("accept", "correct", "promote_gold")
"""Decisions where a person gave (or confirmed) the answer: the items curation pays for."""


def gold_age(inputs: ReportInputs) -> GoldAge:
    """The gold set's median and oldest age at report time, and its rows added before the last drift alarm."""
    added = sorted(inputs.store.gold_added_ms)
    drifts = [d.event_ts_ms or d.detected_at_ms for d in inputs.drift]
    last = max(drifts) if drifts else None
    if not added:
        return GoldAge(last_drift_ms=last)
    day = 86_400_000
    mid = added[len(added) // 2] if len(added) % 2 else (added[len(added) // 2 - 1] + added[len(added) // 2]) / 2
    return GoldAge(rows=len(added), median_age_days=(inputs.generated_at_ms - mid) / day,
                   oldest_age_days=(inputs.generated_at_ms - added[0]) / day, last_drift_ms=last,
                   before_drift=sum(1 for a in added if last is not None and a < last))


def review_stats(inputs: ReportInputs) -> ReviewStats:
    """Throughput, backlog, per-category disagreement and cost of the task's review decisions.

    A decision redelivered (same ``decision_id``) counts once; the disagreement of an
    item decided twice is its latest decision's. Cost is every reviewed item times
    ``review.cost_per_item_usd``: measured, not typed in.
    """
    unique = {d.decision_id: d for d in inputs.reviewed if d.task == inputs.spec.name}
    decisions = sorted(unique.values(), key=lambda d: (d.decided_at_ms, d.decision_id))
    by: Counter[str] = Counter(d.decision for d in decisions)
    reviewed = sum(by[k] for k in REVIEWED)
    latest = {d.item_id: d for d in decisions if d.decision in REVIEWED}
    tally: dict[str, list[int]] = {}
    for d in latest.values():
        cat = d.category or "_"
        t = tally.setdefault(cat, [0, 0])
        t[0] += 1
        t[1] += int(d.answer is not None and d.answer not in (d.teacher_output, d.category))
    span_h = (decisions[-1].decided_at_ms - decisions[0].decided_at_ms) / 3_600_000 if len(decisions) > 1 else 0.0
    cost = inputs.spec.review.cost_per_item_usd
    return ReviewStats(
        decisions=len(decisions), reviewed=reviewed, by_decision=dict(sorted(by.items())),
        per_hour=len(decisions) / span_h if span_h > 0 else None,
        last_hour=sum(1 for d in decisions if d.decided_at_ms > inputs.generated_at_ms - 3_600_000),
        backlog=inputs.review_backlog, cost_per_item_usd=cost, cost_usd=reviewed * cost,
        categories=tuple(CategoryReview(c, n, k) for c, (n, k) in
                         sorted(tally.items(), key=lambda kv: (-kv[1][1] / kv[1][0], kv[0]))))


def build_report(inputs: ReportInputs, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                 given_share: float | None = None) -> TaskReport:
    """The task's numbers, the break-even curve and the filled decision table."""
    spec, econ = inputs.spec, inputs.spec.economics
    teacher, student = path_costs(spec, inputs.store)
    share = student_share(inputs, given_share)
    answered = student_accuracy(inputs)
    training = training_spend(inputs)
    review = review_stats(inputs)
    one_time = {"labeling": inputs.store.labeling_usd, "training": training.usd,
                "eval_build": econ.eval_build_usd, "data_curation": econ.data_curation_usd,
                "human_review": review.cost_usd}
    fixed = {"ops": econ.monthly_ops_usd, "serving_fixed": econ.monthly_serving_fixed_usd}
    money: BreakEven | None = None
    needed: float | None = None
    curve: tuple[MonthPoint, ...] = ()
    if share.value is not None:
        model = CostModel(teacher.request_usd, student.request_usd, econ.monthly_volume, share.value,
                          one_time, sum(fixed.values()))
        money = break_even(model)
        needed = volume_for_break_even(model, thresholds.horizon_months)
        horizon = max(math.ceil(thresholds.horizon_months), math.ceil(money.months * 1.25)
                      if not math.isinf(money.months) else 0)
        curve = tuple(cumulative_by_month(money, min(horizon, MAX_CURVE_MONTHS)))
    drift = drift_stats(inputs)
    evidence = eval_evidence(inputs)
    scored = scored_events(inputs)
    categories, worst, worst_basis = category_rows(
        scored[0].metrics if scored else None, inputs.store.gold_by_category, spec.gate.min_category_support,
        thresholds.blind_spot_accuracy)
    routed = evidence.routed
    decision = decide(DecisionInputs(
        monthly_volume=econ.monthly_volume, volume_needed=needed,
        break_even_months=money.months if money else None,
        student_share=share.value, drift_episodes=drift.episodes, events_seen=drift.events_seen,
        span_days=drift.span_days, recovery_events=recovery_events(spec), gold_size=evidence.gold_size,
        candidate_accuracy=evidence.candidate_accuracy, teacher_accuracy=evidence.teacher_accuracy,
        max_below_teacher=spec.gate.max_below_teacher, target_accuracy=spec.routing.target_accuracy,
        worst_category=evidence.worst_category, worst_accuracy=evidence.worst_accuracy,
        min_worst_category=spec.gate.min_worst_category,
        routed_accuracy=routed.accuracy if routed else None, routed_coverage=routed.coverage if routed else None,
        routed_teacher_accuracy=routed.teacher_accuracy if routed else None,
    ), thresholds)
    notes = []
    if not inputs.kafka_read:
        notes.append("Kafka was not read: no adapter, drift or counter records are counted.")
    if share.source == "none":
        notes.append("No student share: nothing has been routed yet and no adapter event carries a coverage "
                     "calibrated on gold, so no break-even is computed; pass --student-share to assume one.")
    elif share.source == "measured" and share.routed_events < MIN_ROUTED_EVENTS:
        notes.append(f"Student share measured on only {share.routed_events} routed requests (fewer than "
                     f"{MIN_ROUTED_EVENTS}) and no calibrated coverage to fall back on: a noisy figure.")
    elif share.source == "calibrated" and share.routed_events:
        notes.append(f"{share.routed_events} routed requests are too few to measure the share (fewer than "
                     f"{MIN_ROUTED_EVENTS}): the gate's calibration is used.")
    blind = [c for c in categories if c.blind_spot]
    if blind:
        listed = ", ".join(f"{c.category} {pct(c.teacher)}" for c in blind)
        notes.append(f"Teacher blind spots (below {pct(thresholds.blind_spot_accuracy)} on gold): {listed}; "
                     "the student learns the teacher's mistakes there, so those need labels from ground truth or a human.")
    return TaskReport(
        task=spec.name, generated_at_ms=inputs.generated_at_ms, monthly_volume=econ.monthly_volume,
        teacher=teacher, student=student, share=share, answered=answered, one_time_usd=one_time,
        monthly_fixed_usd=fixed, economics=money, volume_needed=needed, horizon_months=thresholds.horizon_months,
        target_accuracy=spec.routing.target_accuracy,
        labeling_calls=inputs.store.labeling_calls, training=training, drift=drift, evidence=evidence,
        categories=categories, worst_category=worst, worst_basis=worst_basis,
        blind_spot_accuracy=thresholds.blind_spot_accuracy,
        agreement=inputs.store.agreement, curve=curve,
        decision=decision, counters=dict(inputs.counters), notes=tuple(notes), review=review,
        gold_age=gold_age(inputs),
    )
