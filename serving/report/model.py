"""What the report reads and what it says, as plain frozen records.

:class:`ReportInputs` is everything measured (store facts, adapter and drift
records, counters), gathered by :mod:`serving.report.data` or built by hand in a
test; :class:`TaskReport` is the finished report every renderer prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from distillery.events import AdapterPublished, AdapterRejected, DriftEvent, now_ms
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
    """Teacher-student agreement in one 15-minute window of labelled examples."""

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
    labelling_calls: int = 0
    labelling_usd: float = 0.0
    labelling_usage: TokenAverage | None = None
    gold_count: int = 0
    agreement: tuple[WindowAgreement, ...] = ()


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


@dataclass(frozen=True)
class PathCost:
    """One serving path's average request and what it costs; ``source`` says where the tokens came from."""

    path: Literal["teacher", "student"]
    prompt_tokens: float
    completion_tokens: float
    source: str
    request_usd: float


@dataclass(frozen=True)
class StudentShare:
    """The share of traffic the student answers under the router, and how it is known."""

    value: float
    source: Literal["given", "measured", "assumed"]
    routed_events: int
    router_threshold: float | None
    adapter_id: str | None


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


@dataclass(frozen=True)
class TaskReport:
    """The break-even report of one task."""

    task: str
    generated_at_ms: int
    monthly_volume: int
    teacher: PathCost
    student: PathCost
    share: StudentShare
    one_time_usd: Mapping[str, float]
    monthly_fixed_usd: Mapping[str, float]
    economics: BreakEven
    volume_needed: float
    horizon_months: float
    target_accuracy: float
    labelling_calls: int
    training: TrainingSpend
    drift: DriftStats
    evidence: EvalEvidence
    agreement: tuple[WindowAgreement, ...]
    curve: tuple[MonthPoint, ...]
    decision: Decision
    counters: Mapping[str, float]
    notes: tuple[str, ...] = ()
