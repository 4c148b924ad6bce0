"""The wire record of the way in: an :class:`InferenceEvent` on ``inference.events``, and its parts.

The capture SDK owns this record (and :class:`Record`, the base every record of
the contract builds on) so a service can emit events with nothing of Distillery
installed but this package; :mod:`distillery.events` re-exports it beside the
records the workers exchange, so there is one definition. ``schemas/*.json`` is
generated from these models for producers in other languages.

Compatibility rule: within one ``SCHEMA_VERSION`` fields are only ever added as
optional; consumers ignore fields they do not know (``extra="ignore"`` on the
inbound event, so a newer producer never breaks an older worker).

>>> ev = InferenceEvent(event_id="e-1", task="transactions", input="STARBUCKS #1234 SEATTLE")
>>> ev.schema_version, ev.key()
(1, b'transactions')
>>> InferenceEvent.model_validate_json(ev.to_json()).input
'STARBUCKS #1234 SEATTLE'
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

SCHEMA_VERSION: Final = 1
"""Bumped only on a breaking change; additive optional fields keep it."""

MAX_EVENT_BYTES = 1024 * 1024
"""Default size limit of one inbound event (1 MiB); configurable per deployment."""

INT32_MAX: Final = 2**31 - 1
"""Largest value of a DuckDB ``INTEGER`` column: every count the contract accepts into one is bounded by it."""

TS_MAX_MS: Final = 10**14
"""Latest event time accepted (epoch milliseconds, about the year 5138); the earliest is the epoch."""

EpochMs = Annotated[int, Field(ge=0, le=TS_MAX_MS)]
"""A time in epoch milliseconds a store's BIGINT holds and a clock can mean (before year 5138)."""

Json = dict[str, Any]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
MAX_ID_CHARS = 512
"""The longest id (event, drift, adapter) the contract accepts."""
NonEmpty = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds, the unit of every ``*_ms`` field."""
    return int(time.time() * 1000)


class Record(BaseModel):
    """Base of every record: versioned, JSON on the wire, keyed by task."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    topic_name: ClassVar[str] = ""

    schema_version: Literal[1] = SCHEMA_VERSION
    task: NonEmpty

    def key(self) -> bytes:
        """Kafka key: the task, so each task's events stay in order on one partition."""
        return self.task.encode()

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, the value written to Kafka."""
        return self.model_dump_json(exclude_none=True).encode()


# --------------------------------------------------------------------------- in
class ChatMessage(BaseModel):
    """One chat message of an input, as in the OpenAI chat API."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str


class Usage(BaseModel):
    """Token counts the answering model reported."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    prompt_tokens: Annotated[int, Field(ge=0, le=INT32_MAX)] = Field(
        default=0, description="At most 2**31 - 1 (a 32-bit INTEGER column in the store)."
    )
    completion_tokens: Annotated[int, Field(ge=0, le=INT32_MAX)] = Field(
        default=0, description="At most 2**31 - 1 (a 32-bit INTEGER column in the store)."
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS_LATEST = (_EPOCH + timedelta(milliseconds=TS_MAX_MS - 1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 time; a time without an offset is UTC.

    Raises ``ValueError`` for a text that is not such a time or a time the
    contract cannot represent (before the epoch or after ``TS_MAX_MS``).

    >>> iso_ms("2026-03-01T10:00:00Z"), iso_ms("2026-03-01T11:00:00+01:00"), iso_ms("2026-03-01T10:00:00")
    (1772359200000, 1772359200000, 1772359200000)
    """
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("expected an ISO-8601 time such as 2026-01-31T12:00:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # the same instant on every worker, whatever its local zone
    try:
        ms = (dt - _EPOCH) // timedelta(milliseconds=1)
    except OverflowError:  # an offset that moves year 1 or 9999 out of datetime's range
        ms = -1
    if not 0 <= ms < TS_MAX_MS:
        raise ValueError(
            f"expected a time between 1970-01-01T00:00:00Z and {_TS_LATEST} (the range the store keeps; "
            "send when the event was served)"
        )
    return ms


class InferenceEvent(Record):
    """One production request/response, on ``inference.events`` (the way in)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    topic_name: ClassVar[str] = "inference.events"

    event_id: NonEmpty = Field(description="Idempotency key: a redelivery with the same id is the same event.")
    input: Annotated[str, Field(min_length=1)] | Annotated[list[ChatMessage], Field(min_length=1)] = Field(
        description="The request: a non-empty string, or a non-empty list of chat messages."
    )
    ts: str | StrictInt | None = Field(
        default=None,
        description="When it was served: ISO-8601 (UTC when it has no offset) or epoch milliseconds, "
        "from 1970-01-01 to 10**14 ms.",
    )
    output: str | Json | None = Field(default=None, description="What production answered.")
    model: str | None = Field(default=None, description="Which model answered in production.")
    route: Literal["student", "teacher"] | None = Field(
        default=None, description="Which path answered, when Distillery's router did."
    )
    label: str | Json | None = Field(
        default=None, description="Ground truth, when a human or a downstream system knows it."
    )
    confidence: Probability | None = Field(default=None, description="The answering model's confidence, 0..1.")
    usage: Usage | None = None
    metadata: Json | None = None

    @field_validator("ts")
    @classmethod
    def _ts_is_a_time(cls, v: str | int | None) -> str | int | None:
        if isinstance(v, str):
            iso_ms(v)  # raises, naming the range, for a time the store cannot keep
        elif isinstance(v, int) and not 0 <= v < TS_MAX_MS:
            raise ValueError("expected epoch milliseconds between 0 and 10**14")
        return v

    def ts_ms(self) -> int | None:
        """``ts`` as epoch milliseconds, whichever form the producer sent.

        Never raises: a validated event's ``ts`` is always representable; an
        unvalidated one (``model_construct``) with a time it cannot read gives ``None``.
        """
        if self.ts is None or isinstance(self.ts, int):
            return self.ts
        try:
            return iso_ms(self.ts)
        except ValueError:
            return None

    def input_text(self) -> str:
        """The input as one string: chat messages joined as ``role: content`` lines."""
        if isinstance(self.input, str):
            return self.input
        return "\n".join(f"{m.role}: {m.content}" for m in self.input)
