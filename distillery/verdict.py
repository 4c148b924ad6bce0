"""What a train job's verdict carries: each contender's gold-set scores, the rules, how it trained.

Part of the event contract (:mod:`distillery.events` re-exports every class, and
``adapters.published`` / ``adapters.rejected`` carry them): one place for the
figures the gate computes, the model card prints and the report reads.

>>> m = GateMetrics(gold_size=2, candidate=ModelScores(n=2, accuracy=0.5), rules={"min_accuracy": True},
...                 category_drops={"fuel": 0.0039})
>>> GateMetrics.model_validate_json(m.model_dump_json()) == m
True
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from distillery_capture.events import Probability


class ModelScores(BaseModel):
    """How one model did on the gold set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: Annotated[int, Field(ge=0)]
    accuracy: Probability = Field(description="Against ground truth (exact match for extraction).")
    teacher_agreement: Probability | None = Field(
        default=None, description="Agreement with the teacher's pinned answers."
    )
    f1: Probability | None = Field(default=None, description="Field-level F1 (extraction).")
    per_category: dict[str, Probability] = Field(default_factory=dict)
    worst_category: str | None = None


class RoutedScores(BaseModel):
    """The routed system on the gold set: the student where it is sure, the teacher elsewhere.

    Measured out of sample: the threshold is calibrated on one part of the gold set
    and coverage and accuracy are counted on the other (``method``), so the figures
    are what serving will see, not what the calibration was fitted to.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: Annotated[int, Field(ge=0)] = Field(description="Gold rows the routed figures were counted on.")
    threshold: Probability | None = Field(
        default=None, description="Calibrated on the whole gold set: what the router will use (None: all to the teacher)."
    )
    coverage: Probability = Field(description="Share of gold inputs the student answers (out of sample).")
    accuracy: Probability = Field(description="Routed system against ground truth (out of sample).")
    student_accuracy: Probability | None = Field(
        default=None, description="The student's accuracy on the share it answered (out of sample)."
    )
    teacher_accuracy: Probability | None = Field(
        default=None, description="The teacher's accuracy on the same rows, for comparison."
    )
    per_category: dict[str, Probability] = Field(default_factory=dict, description="Routed accuracy per category.")
    per_category_coverage: dict[str, Probability] = Field(
        default_factory=dict, description="Student share per category."
    )
    worst_category: str | None = None
    method: Literal["holdout", "cross_validation"] = "cross_validation"
    folds: Annotated[int, Field(ge=1)] = 1


class GateMetrics(BaseModel):
    """Gold-set scores of each contender, plus the verdict of every promotion rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gold_size: Annotated[int, Field(ge=0)]
    candidate: ModelScores
    base: ModelScores | None = None
    production: ModelScores | None = None
    teacher: ModelScores | None = None
    routed: RoutedScores | None = Field(
        default=None, description="The candidate behind the router (student when sure, teacher otherwise)."
    )
    rules: dict[str, bool] = Field(default_factory=dict, description="Each promotion rule and whether it passed.")
    category_drops: dict[str, Probability] = Field(
        default_factory=dict,
        description="Categories that fell more than max_category_regression below production, each with the p-value "
        "of its paired sign test; those at or below 1 - category_regression_confidence failed no_category_regression.",
    )


class TrainingSummary(BaseModel):
    """How the adapter was trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str
    quantization: Literal["nf4", "none"]
    steps: Annotated[int, Field(ge=0)]
    train_examples: Annotated[int, Field(ge=0)]
    tokens: Annotated[int, Field(ge=0)] = 0
    seconds: Annotated[float, Field(ge=0.0)] = 0.0
    first_loss: float | None = None
    final_loss: float | None = None
    learning_rate: Annotated[float, Field(ge=0.0)] | None = None
    """The peak learning rate the job trained at (a warm start's is scaled down, see ``student.warm_start_lr_scale``)."""
