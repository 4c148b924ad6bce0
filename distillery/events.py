"""The event contract: every record that crosses a Kafka topic, in one place.

Each record carries ``schema_version`` so consumers can tell what they read, and
``schemas/*.json`` is generated from these models (``distillery schemas write``)
for producers in other languages. Nothing else in the project defines a schema:
workers import these classes. The way in (:class:`InferenceEvent`, its parts and
the :class:`Record` base) is defined by the capture SDK (:mod:`distillery_capture.events`,
with the compatibility rule every record follows) and re-exported here.

>>> ex = LabeledExample(task="transactions", event_id="e-1", input="STARBUCKS", label="coffee_shops",
...                     source="teacher", ts_ms=1)
>>> ex.key(), LabeledExample.model_validate_json(ex.to_json()) == ex
(b'transactions', True)
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import Field, model_validator

from distillery import topics
from distillery.text import utf8_safe
from distillery.verdict import GateMetrics, ModelScores, RoutedScores, TrainingSummary  # noqa: F401 - re-exported

# The way in (the inference event, its parts, the record base and their limits) belongs to the
# capture SDK, which services install alone; the contract re-exports it so there is one definition.
from distillery_capture.events import (  # noqa: F401 - re-exported
    INT32_MAX,
    MAX_EVENT_BYTES,
    MAX_ID_CHARS,
    SCHEMA_VERSION,
    TS_MAX_MS,
    ChatMessage,
    EpochMs,
    InferenceEvent,
    Json,
    NonEmpty,
    Probability,
    Record,
    Usage,
    iso_ms,
    now_ms,
)

DEADLETTER_ORIGINAL_MAX_BYTES: Final = 256 * 1024
"""Most original bytes a dead letter carries (value and key together, before base64).

A dead letter must fit in one produce request whatever it refuses: base64 makes
the original 4/3 as large, and a broker with default limits takes about 1 MB per
record. Past this the letter keeps the first bytes, the full size and the SHA-256
of the original, and says it was truncated."""

DEADLETTER_PROBLEMS_MAX: Final = 50
"""Most problem lines a dead letter lists (each at most ``DEADLETTER_PROBLEM_MAX_CHARS``)."""

DEADLETTER_PROBLEM_MAX_CHARS: Final = 1000


def new_id(prefix: str) -> str:
    """A random id with a readable prefix (``drift-3f2a...``)."""
    return f"{prefix}-{uuid.uuid4().hex}"


# ----------------------------------------------------------------- streams out
LabelSource = Literal["production", "teacher", "teacher_batch", "router_escalation", "ground_truth"]


class LabeledExample(Record):
    """A teacher-labeled (or ground-truth) example, on ``distill.labeled``.

    ``input`` is already PII-redacted; ``label`` is the normalised answer the
    student trains on (a label from the set, a JSON object, or text).
    """

    topic_name: ClassVar[str] = topics.LABELED

    event_id: NonEmpty
    input: str
    label: str | Json
    source: LabelSource
    teacher_model: str | None = None
    teacher_confidence: Probability | None = None
    ground_truth: str | Json | None = Field(default=None, description="The event's own label, if it had one.")
    student_output: str | Json | None = Field(
        default=None, description="What the student answered, for agreement tracking."
    )
    cost_usd: Annotated[float, Field(ge=0.0)] = 0.0
    prompt_tokens: Annotated[int, Field(ge=0)] = 0
    completion_tokens: Annotated[int, Field(ge=0)] = 0
    ts_ms: EpochMs = Field(default_factory=now_ms)


class ReviewItem(Record):
    """A teacher answer too unsure (or too odd) to train on, on ``distill.review``."""

    topic_name: ClassVar[str] = topics.REVIEW

    event_id: NonEmpty
    input: str
    reason: str
    teacher_output: str | Json | None = None
    teacher_model: str | None = None
    teacher_confidence: Probability | None = None
    cost_usd: Annotated[float, Field(ge=0.0)] = 0.0
    ts_ms: EpochMs = Field(default_factory=now_ms)
    student_output: str | Json | None = Field(
        default=None, description="What the student answered in production, where it did (for the reviewer)."
    )


class GoldExample(Record):
    """A row of a task's frozen gold set, on ``distill.gold`` (never trained on).

    Published by the task's streams worker through its outbox, so the gold set
    lives on Kafka and a worker that takes the task over rebuilds it
    (:mod:`streams.restore`). ``cost_usd`` and the token counts are those of the
    teacher call that pinned ``teacher_label`` (zero when the event carried the
    teacher's answer already). Gold rows a person promoted from the review queue
    are not repeated here: their decision on ``distill.reviewed`` is the record.
    """

    topic_name: ClassVar[str] = topics.GOLD

    gold_id: NonEmpty = Field(description="The gold event's id.")
    input: str
    label: str = Field(description="The ground-truth answer, as stored (objects as compact JSON).")
    category: str | None = None
    origin: str = Field(default="event", description="Where the ground truth came from (metadata gold_source).")
    teacher_label: str | None = Field(default=None, description="The teacher's answer, pinned once.")
    teacher_confidence: Probability | None = None
    teacher_model: str | None = None
    cost_usd: Annotated[float, Field(ge=0.0)] = 0.0
    prompt_tokens: Annotated[int, Field(ge=0)] = 0
    completion_tokens: Annotated[int, Field(ge=0)] = 0
    teacher_batch: bool = Field(default=False, description="The pinning call went through the Batch API.")
    ts_ms: EpochMs = Field(default_factory=now_ms)


class BatchPending(Record):
    """An event waiting for a Batch API job, on ``distill.pending`` (non-urgent tasks).

    Published through the task's outbox when the event starts waiting
    (``batch_id`` absent) and again when its job is submitted (with the job's
    id), so a worker that takes the task over collects the job (or labels the
    event online) instead of losing it (:mod:`streams.restore`). The event's
    label or review item on ``distill.labeled`` / ``distill.review`` ends the wait.
    """

    topic_name: ClassVar[str] = topics.PENDING

    event_id: NonEmpty
    input: str = Field(description="The PII-redacted input sent to the teacher.")
    event_json: str = Field(description="The (redacted) inference event, as the store keeps it.")
    batch_id: str | None = Field(default=None, description="The Batch API job the event went out in, once submitted.")
    ts_ms: EpochMs = Field(default_factory=now_ms)


class DeadLetter(Record):
    """An input that could not be processed, with why and where it came from.

    ``task`` is ``"_unknown"`` when the event was unreadable; the original bytes
    travel base64-encoded, whatever they were. A letter always fits in one Kafka
    request: an original (value and key) over ``DEADLETTER_ORIGINAL_MAX_BYTES``
    keeps only its first bytes, with ``original_truncated`` set and the full
    ``original_size`` and ``original_sha256`` to recognise it by (likewise for
    the key). Build letters with :meth:`carrying`, which applies those bounds.
    """

    topic_name: ClassVar[str] = topics.DEADLETTER

    reason: str
    problems: list[str] = Field(default_factory=list)
    source_topic: str
    source_partition: int
    source_offset: int
    original_b64: str = Field(
        description="The original message value, base64 (its first bytes only when original_truncated)."
    )
    original_key_b64: str | None = None
    event_id: str | None = None
    stage: str = Field(default="ingest", description="Which step refused it: ingest, label, store...")
    ts_ms: EpochMs = Field(default_factory=now_ms)
    original_truncated: bool | None = Field(
        default=None, description="True when original_b64 holds only the first bytes of a value too large to carry."
    )
    original_size: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Size in bytes of the whole original value (set when it was truncated)."
    )
    original_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, description="SHA-256 of the whole original value (set when it was truncated)."
    )
    original_key_truncated: bool | None = Field(
        default=None, description="True when original_key_b64 holds only the first bytes of the key."
    )
    original_key_size: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Size in bytes of the whole original key (set when it was truncated)."
    )

    @staticmethod
    def encode(raw: bytes | None) -> str:
        """Base64 of raw bytes (empty string for a null value)."""
        return base64.b64encode(raw or b"").decode("ascii")

    @classmethod
    def carrying(
        cls,
        value: bytes | None,
        key: bytes | None,
        *,
        max_bytes: int = DEADLETTER_ORIGINAL_MAX_BYTES,
        problems: list[str] | None = None,
        **fields: Any,
    ) -> DeadLetter:
        """A letter for ``value`` and ``key`` within the size bounds (see the class doc).

        The key keeps up to a quarter of ``max_bytes`` (Kafka keys are short; a huge
        one is hostile), the value the rest; problems are capped in number and length.

        >>> dl = DeadLetter.carrying(b"x" * 100, b"k", max_bytes=40, task="_unknown", reason="not_json",
        ...                          source_topic="t", source_partition=0, source_offset=1)
        >>> len(dl.original()), dl.original_truncated, dl.original_size, dl.original_key_truncated
        (39, True, 100, None)
        """
        key_room = max_bytes // 4 if key is not None and len(key) > max_bytes // 4 else len(key or b"")
        room = max_bytes - key_room
        extra: dict[str, Any] = {}
        if value is not None and len(value) > room:
            extra.update(original_truncated=True, original_size=len(value),
                         original_sha256=hashlib.sha256(value).hexdigest())
            value = value[:room]
        if key is not None and len(key) > key_room:
            extra.update(original_key_truncated=True, original_key_size=len(key))
            key = key[:key_room]
        lines = [utf8_safe(p if len(p) <= DEADLETTER_PROBLEM_MAX_CHARS else p[: DEADLETTER_PROBLEM_MAX_CHARS - 3] + "...")
                 for p in (problems or [])[:DEADLETTER_PROBLEMS_MAX]]
        if isinstance(fields.get("event_id"), str):
            fields["event_id"] = utf8_safe(fields["event_id"][:512])
        if problems and len(problems) > DEADLETTER_PROBLEMS_MAX:
            lines.append(f"... and {len(problems) - DEADLETTER_PROBLEMS_MAX} more problems")
        return cls(
            original_b64=cls.encode(value),
            original_key_b64=cls.encode(key) if key is not None else None,
            problems=lines,
            **extra,
            **fields,
        )

    def original(self) -> bytes:
        """The original message value, decoded (its first bytes only when ``original_truncated``)."""
        return base64.b64decode(self.original_b64)


# ----------------------------------------------------------------- monitors out
Severity = Literal["info", "warning", "critical"]


class DriftEvent(Record):
    """A drift detector fired, on ``drift.events``."""

    topic_name: ClassVar[str] = topics.DRIFT

    drift_id: NonEmpty = Field(default_factory=lambda: new_id("drift"))
    signal: NonEmpty = Field(description="What moved: input_length, category_mix, agreement, ...")
    detector: NonEmpty = Field(description="The river detector that fired (ADWIN, PageHinkley, ...).")
    estimate_before: float | None = None
    estimate_after: float | None = None
    severity: Severity = "warning"
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = Field(default=None, description="Offset of the event where it fired.")
    events_seen: Annotated[int, Field(ge=0)] = Field(default=0, description="Signal observations so far.")
    event_ts_ms: EpochMs | None = Field(default=None, description="Time of the event where it fired.")
    detected_at_ms: EpochMs = Field(default_factory=now_ms)
    detail: Json = Field(default_factory=dict)


# ------------------------------------------------------------------ trainer in
TrainReason = Literal["count", "schedule", "drift", "manual"]


class TrainJob(Record):
    """A request to train an adapter on one data snapshot, on ``train.jobs``.

    ``job_id`` is derived from the task and the snapshot's hash, so a repeated
    trigger on the same data names the same job and never trains twice.
    """

    topic_name: ClassVar[str] = topics.TRAIN_JOBS

    job_id: NonEmpty
    snapshot_uri: NonEmpty
    snapshot_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    gold_uri: str | None = Field(default=None, description="Frozen gold set for the gate (Parquet).")
    n_train: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    n_eval: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    reason: TrainReason = "count"
    drift_id: str | None = None
    base_model: str | None = Field(default=None, description="Overrides the task spec's student base model.")
    created_at_ms: EpochMs = Field(default_factory=now_ms)


# ----------------------------------------------------------------- trainer out
HeadKind = Literal["lm", "classifier"]
HeadTargets = Literal["hard", "soft"]


class AdapterPublished(Record):
    """A promoted adapter, on ``adapters.published``: where it is and what it proved."""

    topic_name: ClassVar[str] = topics.PUBLISHED

    adapter_id: NonEmpty
    job_id: NonEmpty
    uri: NonEmpty = Field(description="Folder with adapter_config.json and adapter_model.safetensors.")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="SHA-256 of adapter_model.safetensors."
    )
    base_model: NonEmpty
    student_prompt: str = Field(description="The short system prompt the adapter was trained with.")
    snapshot_uri: str | None = None
    snapshot_at_ms: EpochMs | None = Field(
        default=None, description="When its training snapshot was cut (the train job's time): traffic after it is "
        "news to this adapter.")
    card_uri: str | None = None
    metrics: GateMetrics
    training: TrainingSummary | None = None
    router_threshold: Probability | None = Field(
        default=None, description="Student confidence above which it answers without the teacher."
    )
    router_coverage: Probability | None = Field(
        default=None, description="Share of gold inputs the student answers at that threshold."
    )
    head: HeadKind = Field(
        default="lm", description="classifier: a label head scores the label set in one pass; lm: the LM answers."
    )
    head_targets: HeadTargets | None = Field(
        default=None, description="What a classifier head learned from: hard labels, or soft (teacher confidence)."
    )
    labels: list[str] | None = Field(default=None, description="A classifier head's label order.")
    warm_start_from: str | None = Field(
        default=None, max_length=512, description="The adapter whose LoRA and head weights training started from "
        "(the one serving when the job ran); none: trained from the base model.")
    head_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, description="SHA-256 of head.safetensors (a classifier head's weights)."
    )
    manifest_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None,
        description="SHA-256 of the folder's manifest.json, which lists the SHA-256 of every other file of the "
        "adapter; a reader refuses a file that differs or that the manifest does not list. Absent on adapters "
        "published before manifests (only sha256 and head_sha256 are checked then).",
    )
    created_at_ms: EpochMs = Field(default_factory=now_ms)


class AdapterRejected(Record):
    """A train job that did not yield a promotable adapter, with the rule that failed."""

    topic_name: ClassVar[str] = topics.REJECTED

    job_id: NonEmpty
    reason: str
    failed_rules: list[str] = Field(default_factory=list)
    metrics: GateMetrics | None = None
    training: TrainingSummary | None = None
    created_at_ms: EpochMs = Field(default_factory=now_ms)


class AdapterControl(Record):
    """An operator's decision every subscriber follows, on ``adapters.control``."""

    topic_name: ClassVar[str] = topics.CONTROL

    action: Literal["pin", "unpin", "rollback"]
    adapter_id: str | None = Field(default=None, description="Required for pin.")
    operator: str | None = None
    note: str | None = None
    created_at_ms: EpochMs = Field(default_factory=now_ms)

    @model_validator(mode="after")
    def _pin_names_adapter(self) -> AdapterControl:
        if self.action == "pin" and not self.adapter_id:
            raise ValueError("adapter_id: required when action is 'pin'; name the adapter to pin")
        return self


# ------------------------------------------------------------------ review out
ReviewVerdict = Literal["accept", "correct", "skip", "promote_gold"]


class ReviewDecision(Record):
    """A person's decision on one review item, on ``distill.reviewed``.

    ``item_id`` is the event id of the item (a ``distill.review`` item, or a
    confident ``distill.labeled`` answer drawn for audit). ``accept`` keeps the
    teacher's answer, ``correct`` replaces it with ``answer``, ``skip`` leaves the
    item unresolved without an example, ``promote_gold`` moves the item into the
    gold set with ``answer`` (or the teacher's answer when ``answer`` is absent).
    The streams worker that owns the task applies it; one it cannot apply (an
    answer off the label set, JSON that fails the task's schema, an unknown item)
    goes to ``distill.deadletter`` and changes nothing.
    """

    topic_name: ClassVar[str] = topics.REVIEWED

    decision_id: NonEmpty = Field(default_factory=lambda: new_id("review"))
    item_id: NonEmpty = Field(description="The event id of the reviewed item.")
    decision: ReviewVerdict
    answer: str | Json | None = Field(
        default=None, description="The corrected answer: required for correct; optional for promote_gold."
    )
    reviewer: NonEmpty = Field(description="Who decided (a person's id or a tool's name).")
    teacher_output: str | Json | None = Field(default=None, description="The teacher's answer the reviewer saw.")
    category: str | None = Field(default=None, description="The item's category as the queue showed it.")
    origin: str | None = Field(default=None, description="Why the item was in the queue: review, audit, gold...")
    tool: str | None = Field(default=None, description="Where the decision was made: cli, web, label-studio...")
    decided_at_ms: EpochMs = Field(default_factory=now_ms)

    @model_validator(mode="after")
    def _correct_has_answer(self) -> ReviewDecision:
        if self.decision == "correct" and self.answer is None:
            raise ValueError("answer: required when decision is 'correct'; send the corrected answer")
        return self


RECORDS: tuple[type[Record], ...] = (
    InferenceEvent,
    LabeledExample,
    ReviewItem,
    DeadLetter,
    DriftEvent,
    TrainJob,
    AdapterPublished,
    AdapterRejected,
    AdapterControl,
    ReviewDecision,
    GoldExample,
    BatchPending,
)
"""Every record, in topic order; one record type per topic."""

RECORD_BY_TOPIC: dict[str, type[Record]] = {r.topic_name: r for r in RECORDS}
