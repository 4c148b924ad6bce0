"""What the report reads and what it says, as plain frozen records.

:class:`ReportInputs` is everything measured (store facts, adapter and drift
records, counters), gathered by :mod:`serving.report.data` or built by hand in a
test; :class:`TaskReport` is the finished report every renderer prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from distillery.events import AdapterPublished, AdapterRejected, DriftEvent, ReviewDecision, now_ms
from distillery.taskspec import TaskSpec
from serving.economics import BreakEven, MonthPoint
from serving.report.decision import Decision
from streams.rows import WINDOW_MS


@dataclass(frozen=True)
class TokenAverage:
    """Mean prompt and completion tokens over ``n`` requests."""

    n: int
    prompt_tokens: float
    completion_tokens: float


@dataclass(frozen=True)
class WindowAgreement:
    """Teacher-student agreement in one 15-minute window of labeled examples."""

    window_id: int
    n: int
    agreed: int

    @property
    def start_ms(self) -> int:
        return self.window_id * WINDOW_MS

    @property
    def rate(self) -> float:
        return self.agreed / self.n if self.n else 0.0


@dataclass(frozen=True)
class AnswerCheck:
    """Routed events the student answered that have a known answer, and how many it got right.

    Each event counts once: against its ground-truth label (the gold table) when it has one,
    else against the teacher's label for the same event (the examples table).
    """

    n: int = 0
    correct: int = 0
    ground_truth: int = 0
    """Of ``n``, checked against ground truth (the rest against the teacher's label)."""
    audited: int = 0
    """Of ``n``, in the task's uniform audit share (``sampling.student_audit_rate``)."""
    audited_correct: int = 0

    @property
    def rate(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def audited_rate(self) -> float | None:
        return self.audited_correct / self.audited if self.audited else None


@dataclass(frozen=True)
class StoreFacts:
    """What the task's DuckDB store says (all zero/None for a task with no store yet)."""

    events_seen: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    avg_input_chars: float | None = None
    teacher_usage: TokenAverage | None = None
    student_usage: TokenAverage | None = None
    routed_student: int = 0
    routed_teacher: int = 0
    labeling_calls: int = 0
    labeling_usd: float = 0.0
    labeling_usage: TokenAverage | None = None
    gold_count: int = 0
    gold_by_category: Mapping[str, int] = field(default_factory=dict)
    agreement: tuple[WindowAgreement, ...] = ()
    answered: AnswerCheck = AnswerCheck()
    gold_added_ms: tuple[int, ...] = ()
    """When each gold row joined the gold set (for its age and how much predates the last drift)."""


@dataclass(frozen=True)
class CategoryReview:
    """People against the teacher in one category (the teacher's answer's): its measured error rate."""

    category: str
    reviewed: int
    disagreed: int

    @property
    def teacher_error_rate(self) -> float:
        return self.disagreed / self.reviewed if self.reviewed else 0.0


@dataclass(frozen=True)
class GoldAge:
    """How old the gold set is, and how much of it predates the last drift alarm."""

    rows: int = 0
    median_age_days: float | None = None
    oldest_age_days: float | None = None
    last_drift_ms: int | None = None
    before_drift: int = 0

    @property
    def share_before_drift(self) -> float | None:
        return self.before_drift / self.rows if self.rows and self.last_drift_ms is not None else None


@dataclass(frozen=True)
class ReviewStats:
    """What people did in the review queue, and what it cost."""

    decisions: int = 0
    reviewed: int = 0
    """Items people labeled (accept, correct, promote to gold): what is paid for."""
    by_decision: Mapping[str, int] = field(default_factory=dict)
    per_hour: float | None = None
    """Decisions per hour between the first and the last one (``None`` for fewer than two)."""
    last_hour: int = 0
    backlog: int | None = None
    cost_per_item_usd: float = 0.0
    cost_usd: float = 0.0
    categories: tuple[CategoryReview, ...] = ()


@dataclass(frozen=True)
class ReportInputs:
    """Everything measured about one task."""

    spec: TaskSpec
    store: StoreFacts = StoreFacts()
    published: tuple[AdapterPublished, ...] = ()
    rejected: tuple[AdapterRejected, ...] = ()
    drift: tuple[DriftEvent, ...] = ()
    counters: Mapping[str, float] = field(default_factory=dict)
    kafka_read: bool = True
    generated_at_ms: int = field(default_factory=now_ms)
    reviewed: tuple[ReviewDecision, ...] = ()
    """People's decisions on the task's review items (``distill.reviewed``)."""
    review_backlog: int | None = None
    """Open items in the review queue, where this host has the queue (``None``: unknown here)."""


@dataclass(frozen=True)
class PathCost:
    """One serving path's average request and what it costs; ``source`` says where the tokens came from."""

    path: Literal["teacher", "student"]
    prompt_tokens: float
    completion_tokens: float
    source: str
    request_usd: float


ShareSource = Literal["given", "measured", "calibrated", "none"]


@dataclass(frozen=True)
class StudentShare:
    """The share of traffic the student answers under the router, and how it is known.

    ``source``: ``measured`` on routed events in the store; ``calibrated`` on the gold
    set by the gate (not yet measured); ``given`` with ``--student-share``; ``none``
    when nothing says it (then there is no break-even). ``basis`` says it in words.
    """

    value: float | None
    source: ShareSource
    basis: str
    routed_events: int
    router_threshold: float | None
    adapter_id: str | None


@dataclass(frozen=True)
class StudentAccuracy:
    """The student's accuracy on the requests it answers itself, and how it is known.

    ``measured``: routed events it answered, against ground truth or the teacher's label;
    ``calibrated``: the gate's out-of-sample figure on the gold share it would answer.
    """

    value: float | None
    source: Literal["measured", "calibrated", "none"]
    basis: str
    n: int


@dataclass(frozen=True)
class TrainingSpend:
    """GPU time of every training run (published or rejected), priced at the task's GPU hour."""

    runs: int
    hours: float
    usd: float


@dataclass(frozen=True)
class DriftStats:
    """Drift alarms, grouped into episodes (alarms within one retrain cooldown are one)."""

    alarms: int
    episodes: int
    events_seen: int
    span_days: float | None
    per_100k_events: float | None
    per_week: float | None
    by_signal: Mapping[str, int]


@dataclass(frozen=True)
class EvalEvidence:
    """What the gold set says about the serving candidate (latest published, else latest scored)."""

    source: Literal["published", "rejected", "none"]
    adapter_id: str | None
    job_id: str | None
    gold_size: int
    store_gold: int
    candidate_accuracy: float | None
    teacher_accuracy: float | None
    worst_category: str | None
    worst_accuracy: float | None
    routed: RoutedEvidence | None = None


@dataclass(frozen=True)
class RoutedEvidence:
    """The gate's figures for the candidate behind the router (student when sure, teacher otherwise)."""

    n: int
    threshold: float | None
    coverage: float
    accuracy: float
    student_accuracy: float | None
    teacher_accuracy: float | None
    worst_category: str | None
    method: str
    folds: int


@dataclass(frozen=True)
class CategoryRow:
    """One category on the gold set: the student alone, the teacher, the routed system.

    ``support`` is the category's rows in the task's gold table (``None``: not known);
    ``blind_spot``: the teacher is below the blind-spot bar there with enough support,
    so the student is taught its mistakes; ``worst``: the category the verdict names.
    """

    category: str
    support: int | None
    student: float | None
    teacher: float | None
    routed: float | None
    coverage: float | None
    blind_spot: bool
    worst: bool


@dataclass(frozen=True)
class TaskReport:
    """The break-even report of one task."""

    task: str
    generated_at_ms: int
    monthly_volume: int
    teacher: PathCost
    student: PathCost
    share: StudentShare
    answered: StudentAccuracy
    one_time_usd: Mapping[str, float]
    monthly_fixed_usd: Mapping[str, float]
    economics: BreakEven | None
    """``None``: no student share measured, calibrated or given, so no break-even."""
    volume_needed: float | None
    horizon_months: float
    target_accuracy: float
    labeling_calls: int
    training: TrainingSpend
    drift: DriftStats
    evidence: EvalEvidence
    categories: tuple[CategoryRow, ...]
    worst_category: str | None
    worst_basis: str | None
    """Whose per-category figure names the worst category: ``routed system`` or ``student alone``."""
    blind_spot_accuracy: float
    agreement: tuple[WindowAgreement, ...]
    curve: tuple[MonthPoint, ...]
    decision: Decision
    counters: Mapping[str, float]
    notes: tuple[str, ...] = ()
    review: ReviewStats = ReviewStats()
    gold_age: GoldAge = GoldAge()
