"""Turn what was measured about a task into its break-even report (pure).

Where a number is measured it wins over the spec: request tokens come from
served events (else the labelling calls, else the spec's token counts, else a
characters/4 estimate of the prompts), and the student's share of traffic from
the router's own decisions on events. Adapter events carry the router threshold
but not the share it answers, so without enough routed traffic the share is a
stated assumption (``ASSUMED_STUDENT_SHARE``, or ``--student-share``).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal

from distillery.events import AdapterPublished, GateMetrics
from distillery.taskspec import TaskSpec
from serving.economics import CostModel, break_even, cumulative_by_month, request_usd, volume_for_break_even
from serving.report.decision import DEFAULT_THRESHOLDS, DecisionInputs, Thresholds, decide
from serving.report.model import (
    DriftStats,
    EvalEvidence,
    PathCost,
    ReportInputs,
    StoreFacts,
    StudentShare,
    TaskReport,
    TrainingSpend,
)
from streams.cost import CostEstimator, tokens_from_chars

ASSUMED_STUDENT_SHARE = 0.8
"""The answered share assumed before the router has served traffic: the usual 80/20 hybrid."""

MIN_ROUTED_EVENTS = 100
"""Routed events needed before their student share replaces the assumption."""

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
    elif store.labelling_usage and store.labelling_usage.n:
        u = store.labelling_usage
        tp, tc, tsrc = u.prompt_tokens, u.completion_tokens, f"measured: {u.n} labelling calls"
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


def student_share(inputs: ReportInputs, given: float | None = None) -> StudentShare:
    """The student's answered share: given, else measured on routed events, else assumed."""
    latest = _latest([p for p in inputs.published if p.task == inputs.spec.name])
    threshold = latest.router_threshold if latest else None
    adapter = latest.adapter_id if latest else None
    st = inputs.store
    routed = st.routed_student + st.routed_teacher
    if given is not None:
        return StudentShare(given, "given", routed, threshold, adapter)
    if routed >= MIN_ROUTED_EVENTS:
        return StudentShare(st.routed_student / routed, "measured", routed, threshold, adapter)
    return StudentShare(ASSUMED_STUDENT_SHARE, "assumed", routed, threshold, adapter)


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


def eval_evidence(inputs: ReportInputs) -> EvalEvidence:
    """Gold-set scores of the serving adapter (latest published), else of the latest scored candidate."""
    task = inputs.spec.name
    latest = _latest([p for p in inputs.published if p.task == task])
    metrics: GateMetrics | None = None
    source: Literal["published", "rejected", "none"] = "none"
    adapter: str | None = None
    job: str | None = None
    if latest is not None:
        metrics, source, adapter, job = latest.metrics, "published", latest.adapter_id, latest.job_id
    else:
        scored = [r for r in inputs.rejected if r.task == task and r.metrics is not None]
        if scored:
            r = max(scored, key=lambda x: x.created_at_ms)
            metrics, source, job = r.metrics, "rejected", r.job_id
    if metrics is None:
        return EvalEvidence("none", None, None, 0, inputs.store.gold_count, None, None, None, None)
    worst, worst_acc = _worst(metrics)
    return EvalEvidence(source, adapter, job, metrics.gold_size, inputs.store.gold_count,
                        metrics.candidate.accuracy, metrics.teacher.accuracy if metrics.teacher else None,
                        worst, worst_acc)


def recovery_events(spec: TaskSpec) -> float:
    """Events the stream needs after a drift to gather one retrain's fresh labels."""
    s = spec.sampling
    rate = max(s.base_rate, s.drift_boost_rate if s.drift_boost_minutes > 0 else 0.0)
    return spec.retrain.min_new_examples / rate if rate > 0 else math.inf


def build_report(inputs: ReportInputs, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                 given_share: float | None = None) -> TaskReport:
    """The task's numbers, the break-even curve and the filled decision table."""
    spec, econ = inputs.spec, inputs.spec.economics
    teacher, student = path_costs(spec, inputs.store)
    share = student_share(inputs, given_share)
    training = training_spend(inputs)
    one_time = {"labelling": inputs.store.labelling_usd, "training": training.usd,
                "eval_build": econ.eval_build_usd, "data_curation": econ.data_curation_usd}
    fixed = {"ops": econ.monthly_ops_usd, "serving_fixed": econ.monthly_serving_fixed_usd}
    model = CostModel(teacher.request_usd, student.request_usd, econ.monthly_volume, share.value,
                      one_time, sum(fixed.values()))
    money = break_even(model)
    needed = volume_for_break_even(model, thresholds.horizon_months)
    drift = drift_stats(inputs)
    evidence = eval_evidence(inputs)
    horizon = max(math.ceil(thresholds.horizon_months), math.ceil(money.months * 1.25)
                  if not math.isinf(money.months) else 0)
    decision = decide(DecisionInputs(
        monthly_volume=econ.monthly_volume, volume_needed=needed, break_even_months=money.months,
        student_share=share.value, drift_episodes=drift.episodes, events_seen=drift.events_seen,
        span_days=drift.span_days, recovery_events=recovery_events(spec), gold_size=evidence.gold_size,
        candidate_accuracy=evidence.candidate_accuracy, teacher_accuracy=evidence.teacher_accuracy,
        max_below_teacher=spec.gate.max_below_teacher, target_accuracy=spec.routing.target_accuracy,
        worst_category=evidence.worst_category, worst_accuracy=evidence.worst_accuracy,
        min_worst_category=spec.gate.min_worst_category,
    ), thresholds)
    notes = []
    if not inputs.kafka_read:
        notes.append("Kafka was not read: no adapter, drift or counter records are counted.")
    if share.source == "assumed":
        notes.append(f"Student share assumed at {ASSUMED_STUDENT_SHARE:.0%}: {share.routed_events} routed events "
                     f"(fewer than {MIN_ROUTED_EVENTS}); measure it with the router or pass --student-share.")
    return TaskReport(
        task=spec.name, generated_at_ms=inputs.generated_at_ms, monthly_volume=econ.monthly_volume,
        teacher=teacher, student=student, share=share, one_time_usd=one_time, monthly_fixed_usd=fixed,
        economics=money, volume_needed=needed, horizon_months=thresholds.horizon_months,
        target_accuracy=spec.routing.target_accuracy,
        labelling_calls=inputs.store.labelling_calls, training=training, drift=drift, evidence=evidence,
        agreement=inputs.store.agreement, curve=tuple(cumulative_by_month(money, min(horizon, MAX_CURVE_MONTHS))),
        decision=decision, counters=dict(inputs.counters), notes=tuple(notes),
    )
