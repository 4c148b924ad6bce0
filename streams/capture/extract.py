"""Turn one chat-completion call (request kwargs + response) into an :class:`InferenceEvent`.

Pure: no I/O. Requests come as the service wrote them (dicts, or message
objects such as a previous response's ``choices[0].message``), so fields are read
with :func:`_get` whichever form they take. Content-part lists are flattened to
text (non-text parts become a ``[image_url]``-style marker so the event says
something was there); the output is the first choice's text, its tool calls, or
its refusal. Anything without ``choices`` (a stream, a raw response) is not a
completion and yields ``None``.

>>> flatten_content([{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {}}])
'hi\\n[image_url]'
>>> [m.role for m in chat_input([{"role": "function", "content": "42"}, {"role": "user", "content": "x"}])]
['tool', 'user']
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

from distillery.events import ChatMessage, InferenceEvent, Json, Usage
from streams.teacher.confidence import TokenChoice, sequence_confidence

_ROLES = {"system", "user", "assistant", "tool", "developer"}
_ROLE_ALIASES = {"function": "tool"}  # the deprecated function-result role carries a tool result
MAX_ID_CHARS = 512
"""Longest completion id used as the event id (the contract's limit); longer ids get a uuid."""


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` for objects, ``None`` when absent."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def flatten_content(content: Any) -> str:
    """A message's content as text: a string as is, parts joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
                continue
            kind = _get(part, "type")
            text = _get(part, "text") if kind == "text" else _get(part, "refusal") if kind == "refusal" else None
            out.append(text if isinstance(text, str) else f"[{kind or 'part'}]")
        return "\n".join(out)
    return str(content)


def _tool_calls(message: Any) -> list[dict[str, Any]]:
    calls = _get(message, "tool_calls") or []
    out = []
    for call in calls:
        fn = _get(call, "function")
        name = _get(fn, "name") if fn is not None else _get(call, "type")
        args = _get(fn, "arguments") if fn is not None else _get(_get(call, "custom"), "input")
        out.append({"name": name, "arguments": args})
    return out


def chat_input(messages: Any) -> list[ChatMessage]:
    """The request's messages as contract messages; unknown roles are left out."""
    out = []
    for m in messages or ():
        role = _get(m, "role")
        role = _ROLE_ALIASES.get(role, role)
        if role not in _ROLES:
            continue
        text = flatten_content(_get(m, "content"))
        if not text and role == "assistant":
            calls = _tool_calls(m)
            text = json.dumps(calls, ensure_ascii=False) if calls else ""
        out.append(ChatMessage(role=role, content=text))
    return out


def choice_output(choice: Any) -> str | Json | None:
    """The first choice's answer: its text, else its tool calls, else its refusal."""
    message = _get(choice, "message")
    content = _get(message, "content")
    if isinstance(content, str):
        return content
    calls = _tool_calls(message)
    if calls:
        return {"tool_calls": calls}
    refusal = _get(message, "refusal")
    return {"refusal": refusal} if isinstance(refusal, str) else None


def choice_confidence(choice: Any) -> float | None:
    """Geometric-mean token probability of the answer, when logprobs came back."""
    content = _get(_get(choice, "logprobs"), "content")
    tokens = [TokenChoice(str(_get(t, "token")), float(_get(t, "logprob"))) for t in content or ()]
    conf = sequence_confidence(tokens)
    if conf is None or math.isnan(conf):
        return None
    return min(1.0, max(0.0, conf))


def _usage(completion: Any) -> Usage | None:
    usage = _get(completion, "usage")
    if usage is None:
        return None
    return Usage(
        prompt_tokens=int(_get(usage, "prompt_tokens") or 0),
        completion_tokens=int(_get(usage, "completion_tokens") or 0),
    )


def event_from_completion(
    completion: Any,
    request: Mapping[str, Any],
    *,
    task: str,
    ts_ms: int,
    metadata: Mapping[str, Any] | None = None,
) -> InferenceEvent | None:
    """The event for one call, or ``None`` when the response is not a chat completion.

    Raises (pydantic's ``ValidationError``) when the request has no usable
    message; the caller counts that as a capture error.
    """
    choices = _get(completion, "choices")
    if not isinstance(choices, (list, tuple)):
        return None
    cid = _get(completion, "id")
    event_id = cid if isinstance(cid, str) and 0 < len(cid) <= MAX_ID_CHARS else uuid.uuid4().hex
    model = _get(completion, "model")
    first = choices[0] if choices else None
    return InferenceEvent(
        event_id=event_id,
        task=task,
        input=chat_input(request.get("messages")),
        ts=ts_ms,
        output=choice_output(first) if first is not None else None,
        model=model if isinstance(model, str) else request.get("model"),
        confidence=choice_confidence(first) if first is not None else None,
        usage=_usage(completion),
        metadata=dict(metadata) if metadata else None,
    )
