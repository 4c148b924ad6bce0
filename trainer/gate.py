"""The promotion gate (pure): gold-set scores of every contender, then the rules.

An adapter ships only if every rule of the task's :class:`GateSpec` holds on
the frozen gold set. A rule whose contender is missing (no production adapter
yet, no pinned teacher answers) is left out of ``rules`` rather than passed.
Categories with fewer than ``min_category_support`` gold rows are too noisy to
judge alone: they are kept in ``per_category`` but never decide ``worst`` or a
regression. A supported category that fell more than ``max_category_regression``
below production refuses the candidate when the rows the two disagree on bear
the drop out at ``category_regression_confidence``
(:mod:`trainer.category_regression`); ``metrics.category_drops`` lists each drop
with its p-value.

Given the candidate's confidences and the teacher's answers, the gate judges
what will serve: the *routed system* (student where sure, teacher elsewhere,
see :mod:`trainer.routed`). Its out-of-sample accuracy must then be within the
teacher's margin, its student must answer at least ``min_coverage`` of the gold
inputs, and the per-category rules read its per-category accuracy.
``min_accuracy`` and ``beats_base`` stay on the student alone: they ask whether
the student learned anything, not whether the system is good enough.

An answer is right when :func:`distillery.answers.same_answer` says so (labels
ignoring case and surrounding spaces, objects field by field), the rule the
monitors and the report count agreement by.

>>> gold = [GoldRow("a", "x", "x", "x"), GoldRow("b", "y", "y", "y")]
>>> scores = model_scores(gold, ["x", "x"], min_category_support=1)
>>> scores.accuracy, scores.teacher_agreement, scores.worst_category
(0.5, 0.5, 'y')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from distillery.answers import Answer, same_answer
from distillery.events import GateMetrics, ModelScores, RoutedScores
from distillery.taskspec import GateSpec
from trainer.category_regression import category_drops, regressed
from trainer.extraction import field_f1
from trainer.gold import GoldRow

EPS = 1e-9
"""Slack on every comparison, so 0.80 >= 0.81 - 0.01 holds despite float rounding."""

@dataclass(frozen=True)
class GateDecision:
    """The metrics to publish and the names of the rules that failed (empty: promote)."""

    metrics: GateMetrics
    failed: list[str]

    @property
    def promoted(self) -> bool:
        return not self.failed


def refusal_reason(decision: GateDecision, spec: GateSpec) -> str:
    """Why the gate refused a candidate, naming each category drop and whether chance explains it.

    >>> m = GateMetrics(gold_size=0, candidate=ModelScores(n=0, accuracy=0.0), category_drops={"a": 0.0039, "b": 0.5})
    >>> refusal_reason(GateDecision(m, ["no_category_regression"]), GateSpec())
    'the gate refused it (fell below production: a p=0.0039; b p=0.5, within chance)'
    """
    why = "the gate refused it"
    drops = decision.metrics.category_drops
    if "no_category_regression" not in decision.failed or not drops:
        return why
    held = set(regressed(drops, confidence=spec.category_regression_confidence))
    shown = [f"{c} p={p:.2g}" + ("" if c in held else ", within chance") for c, p in sorted(drops.items())]
    return f"{why} (fell below production: {'; '.join(shown)})"


def model_scores(
    gold: Sequence[GoldRow], predictions: Sequence[Answer | None], *, min_category_support: int
) -> ModelScores:
    """Accuracy vs ground truth, agreement with the teacher, and per-category accuracy."""
    if len(predictions) != len(gold):
        raise ValueError(f"predictions: {len(predictions)} answers for {len(gold)} gold rows; one per row")
    hits = [same_answer(p, g.label) for p, g in zip(predictions, gold, strict=True)]
    pinned = [(p, g.teacher) for p, g in zip(predictions, gold, strict=True) if g.teacher is not None]
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for hit, row in zip(hits, gold, strict=True):
        by_cat[row.category].append(hit)
    per_category = {c: sum(v) / len(v) for c, v in sorted(by_cat.items())}
    supported = [c for c, v in by_cat.items() if len(v) >= min_category_support]
    worst = min(sorted(supported), key=lambda c: per_category[c]) if supported else None
    f1 = None
    if any(isinstance(g.label, dict) for g in gold):
        f1 = sum(field_f1(p, g.label) for p, g in zip(predictions, gold, strict=True)) / max(len(gold), 1)
    return ModelScores(
        n=len(gold),
        accuracy=sum(hits) / len(gold) if gold else 0.0,
        teacher_agreement=sum(same_answer(p, t) for p, t in pinned) / len(pinned) if pinned else None,
        f1=f1,
        per_category=per_category,
        worst_category=worst,
    )


def evaluate_gate(
    gold: Sequence[GoldRow],
    spec: GateSpec,
    *,
    candidate: Sequence[Answer | None],
    base: Sequence[Answer | None] | None = None,
    base_scores: ModelScores | None = None,
    production: Sequence[Answer | None] | None = None,
    teacher: Sequence[Answer | None] | None = None,
    candidate_confidence: Sequence[float] | None = None,
    production_confidence: Sequence[float] | None = None,
) -> GateDecision:
    """Score each contender and apply every rule of ``spec`` to the candidate.

    ``teacher`` defaults to the gold rows' pinned teacher answers when every row has one.
    ``base_scores`` stand in for ``base`` when the base answered part of the gold set only
    (:mod:`trainer.base_check`).
    With ``candidate_confidence`` and teacher answers, the candidate is judged as the
    routed system (``metrics.routed``): ``within_teacher`` and ``min_worst_category``
    read its routed accuracy and ``min_coverage`` joins the rules. ``no_category_regression``
    compares like with like: routed against production's routed when
    ``production_confidence`` is given too, student alone against student alone otherwise.
    """
    # trainer.routed builds on this module's GoldRow and same: imported here, not at the top
    from trainer.routed import RoutedRows, routed_rows, summarise

    if teacher is None and gold and all(g.teacher is not None for g in gold):
        teacher = [g.teacher for g in gold]
    support = spec.min_category_support

    def score(preds: Sequence[Answer | None] | None) -> ModelScores | None:
        return None if preds is None else model_scores(gold, preds, min_category_support=support)

    def route(preds: Sequence[Answer | None] | None, conf: Sequence[float] | None) -> RoutedRows | None:
        if preds is None or conf is None or teacher is None:
            return None
        return routed_rows(gold, preds, conf, teacher, max_below_teacher=spec.max_below_teacher)

    cand = model_scores(gold, candidate, min_category_support=support)
    base_s, prod_s, teach_s = score(base) or base_scores, score(production), score(teacher)
    cand_rows, prod_rows = route(candidate, candidate_confidence), route(production, production_confidence)
    routed = None if cand_rows is None else summarise(gold, cand_rows, min_category_support=support)
    judged: ModelScores | RoutedScores = cand if routed is None else routed
    rules: dict[str, bool] = {"min_accuracy": cand.accuracy >= spec.min_accuracy - EPS}
    if teach_s is not None:
        rules["within_teacher"] = judged.accuracy >= teach_s.accuracy - spec.max_below_teacher - EPS
    if routed is not None:
        rules["min_coverage"] = routed.coverage >= spec.min_coverage - EPS
    if judged.worst_category is not None:
        rules["min_worst_category"] = judged.per_category[judged.worst_category] >= spec.min_worst_category - EPS
    drops: dict[str, float] = {}
    if production is not None:
        # like with like: routed against production's routed, else student alone against student alone
        if cand_rows is not None and prod_rows is not None:
            mine, theirs = cand_rows.correct, prod_rows.correct
        else:
            mine = [same_answer(p, g.label) for p, g in zip(candidate, gold, strict=True)]
            theirs = [same_answer(p, g.label) for p, g in zip(production, gold, strict=True)]
        drops = category_drops(gold, mine, theirs, margin=spec.max_category_regression, min_support=support)
        rules["no_category_regression"] = not regressed(drops, confidence=spec.category_regression_confidence)
    if spec.must_beat_base and base_s is not None:
        rules["beats_base"] = cand.accuracy > base_s.accuracy + EPS
    metrics = GateMetrics(gold_size=len(gold), candidate=cand, base=base_s, production=prod_s, teacher=teach_s,
                          routed=routed, rules=rules, category_drops=drops)
    return GateDecision(metrics=metrics, failed=[name for name, ok in rules.items() if not ok])
