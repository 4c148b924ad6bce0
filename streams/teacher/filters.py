"""What a teacher answer is worth: accepted (train on it), review, or rejected.

Rejected, with a reason code:

* ``refusal``: the model declined ("I'm sorry", "I can't", "as an AI"...);
* ``label_outside_set``: a classification answer that names no label, even after
  normalising case, spaces, hyphens and quotes (``{"label": ...}`` is accepted too);
* ``malformed_json`` / ``schema``: an extraction answer that is not one JSON
  object (code fences are tolerated) or fails the task's ``output_schema``;
* ``empty``: nothing at all.

Review (``low_confidence``): a well-formed answer whose confidence (see
:mod:`streams.teacher.confidence`) is under ``TeacherSpec.min_confidence``. An answer
without a confidence (endpoint gave no logprobs) is accepted: there is nothing to
doubt it with, and sending everything to review would stall the task.

>>> from distillery.taskspec import TaskSpec
>>> spec = TaskSpec(name="t", kind="classification", labels=["coffee_shops", "fuel"])
>>> judge(spec, "Coffee Shops", 0.93).label, judge(spec, "tea").reason, judge(spec, "fuel", 0.2).status
('coffee_shops', 'label_outside_set', <Status.REVIEW: 'review'>)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from jsonschema import exceptions as jsonschema_exceptions
from jsonschema import validators

from distillery.errors import ConfigError
from distillery.taskspec import TaskSpec
from streams.teacher.labels import label_set

_REFUSAL = re.compile(  # possessive spaces: nothing after them starts with a space, so none is given back
    r"\b(?:i\s*+(?:can['\u2019]?t|cannot|can not|am unable|['\u2019]m unable|won['\u2019]?t|am not able)"
    r"|i\s*+(?:am|['\u2019]m)\s++sorry|sorry,? (?:but )?i"
    r"|as an ai\b|as a language model|i apologi[sz]e"
    r"|unable to (?:help|assist|comply|classify|determine|provide))",
    re.IGNORECASE,
)
_LANG = re.compile(r"[a-zA-Z]*+\s*+")


class Status(StrEnum):
    ACCEPTED = "accepted"
    REVIEW = "review"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Verdict:
    """The filter's answer: status, the normalised label when there is one, and why."""

    status: Status
    label: str | dict[str, Any] | None
    reason: str
    detail: str = ""
    confidence: float | None = None

    @property
    def accepted(self) -> bool:
        return self.status is Status.ACCEPTED

    def describe(self) -> str:
        """``reason: detail``, for a ReviewItem or a log line."""
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


REFUSAL_SCAN_CHARS = 4096
"""A refusal says so up front: only this much of an answer is searched for one (the
answer may be a production output of any size, and this only names why it was rejected)."""


def is_refusal(text: str) -> bool:
    """True when ``text`` reads like a refusal (within its first ``REFUSAL_SCAN_CHARS``).

    >>> is_refusal("I'm sorry, but I can't help with that."), is_refusal("restaurants")
    (True, False)
    """
    return _REFUSAL.search(text, 0, REFUSAL_SCAN_CHARS) is not None


def strip_fences(text: str) -> str:
    """``text`` without a surrounding Markdown code fence.

    What ``^\\s*```[a-zA-Z]*\\s*\\n?(.*?)\\n?\\s*```\\s*$`` (DOTALL) matched, without
    the regex: that one backtracked through every split of the whitespace (cubic on a
    fence followed by a long run of spaces, and production answers reach this).

    >>> strip_fences("```json\\n{\\"a\\": 1}\\n```"), strip_fences("``` x"), strip_fences("```\\n```")
    ('{"a": 1}', '``` x', '')
    """
    body = text.lstrip()
    if not body.startswith("```"):
        return text
    end = body.rstrip()
    if len(end) < 6 or not end.endswith("```"):
        return text
    lang = _LANG.match(end, 3)  # the language tag and the whitespace after it (always matches)
    start = lang.end() if lang else 3
    inner_end = len(end[:-3].rstrip())  # the whitespace before the closing fence belongs to it
    return end[start:inner_end] if start < inner_end else ""


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema_exceptions.SchemaError as err:
        raise ConfigError(
            f"not a valid JSON Schema: {err.message}; fix the task's output_schema", key="output_schema"
        ) from None
    return cls(schema)


def parse_answer(spec: TaskSpec, text: str) -> tuple[str | dict[str, Any] | None, str, str]:
    """(label or ``None``, reason code, detail): the answer read as the task's kind."""
    stripped = text.strip()
    if not stripped:
        return None, "empty", "the teacher answered nothing"
    if spec.kind == "classification":
        labels = label_set(tuple(spec.labels))
        label = labels.match(stripped)
        if label is None and stripped.startswith("{"):
            try:
                obj = json.loads(strip_fences(stripped))
            except (ValueError, RecursionError):  # not JSON, an int over 4,300 digits, nested too deep
                obj = None
            if isinstance(obj, dict):
                value = obj.get("label", obj.get("category"))
                label = labels.match(value) if isinstance(value, str) else None
        if label is None:
            return None, "label_outside_set", f"{stripped[:80]!r} is not one of the {len(labels)} labels"
        return label, "ok", ""
    if spec.kind == "extraction":
        try:
            obj = json.loads(strip_fences(stripped))
        except json.JSONDecodeError as err:
            return None, "malformed_json", f"{err.msg} at char {err.pos}"
        except ValueError as err:  # an integer longer than Python converts (4,300 digits)
            return None, "malformed_json", str(err).split("; use ")[0]
        except RecursionError:
            return None, "malformed_json", "nested too deeply"
        if not isinstance(obj, dict):
            return None, "malformed_json", f"expected a JSON object, got {type(obj).__name__}"
        try:
            errors = sorted(
                _validator(json.dumps(spec.output_schema, sort_keys=True)).iter_errors(obj), key=lambda e: list(e.path)
            )
        except RecursionError:
            return None, "schema", "nested too deeply to check against the schema"
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(root)"
            return None, "schema", f"{where}: {first.message}"
        return obj, "ok", ""
    return stripped, "ok", ""


def judge(spec: TaskSpec, text: str, confidence: float | None = None) -> Verdict:
    """The verdict on one teacher answer ``text`` with its ``confidence`` (0..1 or ``None``)."""
    label, reason, detail = parse_answer(spec, text)
    if label is None:
        if reason != "empty" and is_refusal(text):
            return Verdict(Status.REJECTED, None, "refusal", repr(text.strip()[:80]), confidence)
        return Verdict(Status.REJECTED, None, reason, detail, confidence)
    floor = spec.teacher.min_confidence
    if confidence is not None and confidence < floor:
        return Verdict(Status.REVIEW, label, "low_confidence", f"{confidence:.3f} < min_confidence {floor:.2f}",
                       confidence)
    return Verdict(Status.ACCEPTED, label, "ok", "", confidence)
