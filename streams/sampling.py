"""Which production events get a teacher label: the per-task sampling decision.

For each event, in order:

1. **production_label**: the event was answered by the task's teacher model
   (``event.model == teacher.model``, with an output), so that output *is* the
   label; no call. Exact duplicates of inputs already labeled are still skipped.
2. **skip_rate**: a deterministic draw ``u = hash(seed, event_id)`` in [0, 1) is
   compared with the event's rate: the highest of ``base_rate``,
   ``low_confidence_rate`` (the answering student reported a confidence below
   ``low_confidence_below``) and ``drift_boost_rate`` (within
   ``drift_boost_minutes`` of a drift event on the task). A redelivered event
   draws the same ``u``, so it gets the same answer.
3. **skip_duplicate**: exact or near duplicate of an input already labeled
   (only sampled candidates pay for the MinHash check).

   Steps 2 and 3 are passed over by a **student_audit**: an event the student
   answered whose second draw (:func:`distillery.draws.audit_draw`) falls in
   ``student_audit_rate``. Deduplication saves the teacher's money on inputs
   already labeled, but it also makes the labeled share of the student's
   answers lean to new inputs; the audit share is uniform, so the report can
   measure the student's accuracy on what it answers without that bias.
4. **skip_budget**: the estimated cost does not fit the hour/day budget; each
   pause/resume is attached once (``Decision.transitions``) to the decision
   where it happened, for the caller to log.
5. **call_teacher**, or **call_teacher_batch** when ``TeacherSpec.batch``.

A decision that calls the teacher carries a budget reservation and a dedupe key;
hand it back to :meth:`Sampler.settle` with the real cost once the call is over.
All times come from one injectable clock (epoch seconds).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from distillery.draws import draw, is_student_audit
from distillery.errors import UnknownTaskError
from distillery.events import InferenceEvent
from distillery.taskspec import TaskSpec
from streams.budget import Budget, BudgetTransition, Reservation
from streams.dedupe import Deduper
from streams.teacher.cost import CostEstimator
from streams.teacher.prompts import INPUT_CLOSE, INPUT_OPEN, teacher_system_prompt


class Outcome(StrEnum):
    SKIP_RATE = "skip_rate"
    SKIP_DUPLICATE = "skip_duplicate"
    SKIP_BUDGET = "skip_budget"
    PRODUCTION_LABEL = "production_label"
    CALL_TEACHER = "call_teacher"
    CALL_TEACHER_BATCH = "call_teacher_batch"


@dataclass(frozen=True)
class Decision:
    """What to do with one event, and why."""

    outcome: Outcome
    reason: str
    task: str
    event_id: str
    rate: float = 0.0
    draw: float = 0.0
    estimate_usd: float = 0.0
    prompt_chars: int = 0
    reservation: Reservation | None = None
    dedupe_key: bytes | None = None
    transitions: tuple[BudgetTransition, ...] = ()

    @property
    def calls_teacher(self) -> bool:
        return self.outcome in (Outcome.CALL_TEACHER, Outcome.CALL_TEACHER_BATCH)


class TaskSampler:
    """The sampling decision for one task, with its dedupe memory and budget."""

    def __init__(
        self,
        spec: TaskSpec,
        *,
        clock: Callable[[], float] = time.time,
        deduper: Deduper | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.deduper = deduper or Deduper.for_task(spec)
        self.budget = budget or Budget.for_task(spec, clock=clock)
        self.estimator = CostEstimator(spec)
        self.counters: Counter[str] = Counter()
        self.boost_until_ms = 0
        self._fixed_chars = len(teacher_system_prompt(spec)) + len(INPUT_OPEN) + len(INPUT_CLOSE) + 2

    def on_drift(self, at_ms: int) -> None:
        """Boost the rate for ``drift_boost_minutes`` from ``at_ms`` (epoch ms, same clock).

        A time in the future (a skewed or hostile producer) counts as now: the
        boost never outlasts ``drift_boost_minutes`` from the moment it is heard.
        """
        at_ms = min(at_ms, int(self.clock() * 1000))
        until = at_ms + int(self.spec.sampling.drift_boost_minutes * 60_000)
        self.boost_until_ms = max(self.boost_until_ms, until)

    def rate(self, event: InferenceEvent) -> tuple[float, str]:
        """The event's sampling rate and which rule set it."""
        s = self.spec.sampling
        rate, why = s.base_rate, "base_rate"
        if event.confidence is not None and event.confidence < s.low_confidence_below and s.low_confidence_rate > rate:
            rate, why = s.low_confidence_rate, "low_confidence"
        if self.clock() * 1000 < self.boost_until_ms and s.drift_boost_rate > rate:
            rate, why = s.drift_boost_rate, "drift_boost"
        return rate, why

    def decide(self, event: InferenceEvent, text: str | None = None) -> Decision:
        """The decision for ``event``; ``text`` is its input as it will be sent (redacted)."""
        d = self._decide(event, event.input_text() if text is None else text)
        self.counters[d.outcome.value] += 1
        return d

    def settle(
        self,
        decision: Decision,
        cost_usd: float,
        *,
        labeled: bool = True,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> None:
        """Close a teacher decision: charge the real cost, learn its token counts when given,
        and forget the input when no label came (so a later duplicate may try again)."""
        if decision.reservation is not None:
            self.budget.settle(decision.reservation, cost_usd)
        if prompt_tokens is not None and completion_tokens is not None and decision.prompt_chars:
            self.estimator.observe(decision.prompt_chars, prompt_tokens, completion_tokens)
        if not labeled and decision.dedupe_key is not None:
            self.deduper.forget(decision.dedupe_key)

    def _decide(self, event: InferenceEvent, text: str) -> Decision:
        spec, ev = self.spec, event.event_id
        if event.model is not None and event.model == spec.teacher.model and event.output is not None:
            probe = self.deduper.probe(text, near=False)
            if probe.duplicate:
                return Decision(Outcome.SKIP_DUPLICATE, "duplicate_exact", spec.name, ev)
            self.deduper.add(probe)
            return Decision(Outcome.PRODUCTION_LABEL, f"answered by teacher model {event.model}", spec.name, ev,
                            dedupe_key=probe.key)
        rate, why = self.rate(event)
        u = draw(ev, spec.sampling.seed)
        # a uniform share of the student's answers, duplicates too: what it is worth, without bias
        audit = event.route == "student" and is_student_audit(ev, spec.sampling.seed, spec.sampling.student_audit_rate)
        if not audit and u >= rate:
            return Decision(Outcome.SKIP_RATE, why, spec.name, ev, rate=rate, draw=u)
        probe = self.deduper.probe(text)
        if not audit and probe.duplicate:
            return Decision(Outcome.SKIP_DUPLICATE, f"duplicate_{probe.duplicate}", spec.name, ev, rate=rate, draw=u)
        if audit:
            rate, why = 1.0, "student_audit"
        batch = spec.teacher.batch
        chars = self._fixed_chars + len(text)
        estimate = self.estimator.estimate_usd(chars, batch=batch)
        reservation = self.budget.reserve(estimate)
        transitions = tuple(self.budget.take_transitions())
        if reservation is None:
            return Decision(Outcome.SKIP_BUDGET, "budget_spent", spec.name, ev, rate=rate, draw=u,
                            estimate_usd=estimate, prompt_chars=chars, transitions=transitions)
        self.deduper.add(probe)
        return Decision(
            Outcome.CALL_TEACHER_BATCH if batch else Outcome.CALL_TEACHER, why, spec.name, ev,
            rate=rate, draw=u, estimate_usd=estimate, prompt_chars=chars, reservation=reservation,
            # an audited duplicate leaves the original's dedupe memory alone (settle may forget this key)
            dedupe_key=None if probe.duplicate else probe.key, transitions=transitions,
        )


class Sampler:
    """Every task's :class:`TaskSampler`, looked up by the event's task."""

    def __init__(self, specs: Mapping[str, TaskSpec], *, clock: Callable[[], float] = time.time) -> None:
        self.tasks = {name: TaskSampler(spec, clock=clock) for name, spec in specs.items()}

    def task(self, name: str) -> TaskSampler:
        try:
            return self.tasks[name]
        except KeyError:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise UnknownTaskError([f"task: {name!r} is not declared; declared tasks: {known}"]) from None

    def decide(self, event: InferenceEvent, text: str | None = None) -> Decision:
        return self.task(event.task).decide(event, text)

    def on_drift(self, task: str, at_ms: int) -> None:
        self.task(task).on_drift(at_ms)

    def settle(
        self,
        decision: Decision,
        cost_usd: float,
        *,
        labeled: bool = True,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> None:
        self.task(decision.task).settle(
            decision, cost_usd, labeled=labeled, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

    def counters(self) -> dict[str, dict[str, int]]:
        """Decisions so far, per task and outcome."""
        return {name: dict(t.counters) for name, t in self.tasks.items()}
