"""Reading a chat completion into a :class:`TeacherResult` (online and Batch API alike).

Pure: no I/O. A completion without a first choice holding text content is
*malformed*; the label is parsed with :func:`streams.teacher.filters.parse_answer` and the
confidence comes from the logprobs (:mod:`streams.teacher.confidence`) when present.

>>> retry_after({"retry-after": "2"}), retry_after({"retry-after-ms": "150"}), retry_after({})
(2.0, 0.15, None)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from openai.types.chat import ChatCompletion

from distillery.errors import MalformedResponseError
from distillery.events import INT32_MAX
from distillery.taskspec import TaskSpec
from distillery.text import utf8_safe
from streams.teacher.confidence import TokenChoice, label_confidence, sequence_confidence
from streams.teacher.cost import cost_usd
from streams.teacher.filters import parse_answer
from streams.teacher.labels import label_set


@dataclass(frozen=True)
class TeacherResult:
    """One teacher answer with what it cost."""

    text: str
    label: str | dict[str, Any] | None
    confidence: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    model: str
    latency_s: float = 0.0
    attempts: int = 1
    batch: bool = False
    prompt_chars: int = 0
    finish_reason: str | None = None

    def replace(self, **changes: Any) -> TeacherResult:
        return dataclasses.replace(self, **changes)


def _count(value: Any) -> int:
    """A token count as the store keeps it: an int in 0..2**31 - 1 (an endpoint's odd usage never crashes a write).

    >>> _count(12), _count(None), _count(-3), _count(2**40), _count("7")
    (12, 0, 0, 2147483647, 7)
    """
    try:
        n = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(max(n, 0), INT32_MAX)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a response asks to wait (``retry-after-ms``, ``retry-after`` secs or date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _tokens(choice: Any) -> list[TokenChoice]:
    logprobs = getattr(choice, "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        return []
    return [
        TokenChoice(t.token, float(t.logprob), tuple((a.token, float(a.logprob)) for a in (t.top_logprobs or ())))
        for t in content
    ]


def usage_result(spec: TaskSpec, completion: ChatCompletion, *, latency_s: float, attempts: int,
                 batch: bool = False) -> TeacherResult:
    """A :class:`TeacherResult` without an answer (a reply of tool calls, say): what it cost, no label."""
    usage = getattr(completion, "usage", None)
    prompt_tokens = _count(getattr(usage, "prompt_tokens", 0))
    completion_tokens = _count(getattr(usage, "completion_tokens", 0))
    choices = getattr(completion, "choices", None) or []
    return TeacherResult(
        text="", label=None, confidence=None, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        cost_usd=cost_usd(prompt_tokens, completion_tokens, spec.teacher, batch=batch),
        model=utf8_safe(str(getattr(completion, "model", "") or spec.teacher.model)), latency_s=latency_s,
        attempts=attempts,
        batch=batch, finish_reason=getattr(choices[0], "finish_reason", None) if choices else None,
    )


def result_from_completion(
    spec: TaskSpec,
    completion: ChatCompletion,
    *,
    latency_s: float,
    attempts: int,
    batch: bool = False,
) -> TeacherResult:
    """The :class:`TeacherResult` of ``completion``; :class:`MalformedResponseError` if unusable."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise MalformedResponseError("the response has no choices")
    choice = choices[0]
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None)
    if not isinstance(text, str):
        raise MalformedResponseError("choices[0].message.content is missing or not text")
    text = utf8_safe(text)  # JSON may carry a lone surrogate; no store or topic can (distillery.text)
    label, _, _ = parse_answer(spec, text)
    tokens = _tokens(choice)
    confidence: float | None = None
    if tokens:
        if spec.kind == "classification" and isinstance(label, str):
            confidence = label_confidence(tokens, label_set(tuple(spec.labels)), label)
        if confidence is None:
            confidence = sequence_confidence(tokens)
    usage = getattr(completion, "usage", None)
    prompt_tokens = _count(getattr(usage, "prompt_tokens", 0))
    completion_tokens = _count(getattr(usage, "completion_tokens", 0))
    return TeacherResult(
        text=text,
        label=label,
        confidence=confidence,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd(prompt_tokens, completion_tokens, spec.teacher, batch=batch),
        model=utf8_safe(str(getattr(completion, "model", "") or spec.teacher.model)),
        latency_s=latency_s,
        attempts=attempts,
        batch=batch,
        finish_reason=getattr(choice, "finish_reason", None),
    )
