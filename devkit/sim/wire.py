"""OpenAI wire formats the simulated server speaks: completions, logprobs, files, errors.

Pure builders of JSON-ready dicts, shaped after the openai client's own types
(``ChatCompletion``, ``FileObject``, ``Batch``) so the real client parses them.

>>> split_tokens("coffee_shops")
['coffee', '_shops']
>>> lp = logprobs_for("fuel", 0.5, (("ev_charging", 0.3),))
>>> [(t["token"], round(t["logprob"], 3)) for t in lp["content"][0]["top_logprobs"]]
[('fuel', -0.693), ('ev', -1.204)]
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from devkit.sim.teacher_model import SimAnswer

_TOKEN = re.compile(r"_?[A-Za-z]+|\s+|\d+|[^\sA-Za-z\d_]+|_")
_INPUT = re.compile(r"<input>(.*?)</input>", re.DOTALL)
_CATEGORIES = re.compile(r"^Categories:\n((?:- .*(?:\n|$))+)", re.MULTILINE)


@dataclass(frozen=True)
class Reply:
    """What the model says: the text, its confidence and the runner-ups of its first token."""

    content: str
    confidence: float = 1.0
    alternatives: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_answer(cls, answer: SimAnswer) -> Reply:
        return cls(answer.label, answer.confidence, answer.alternatives)


def split_tokens(text: str) -> list[str]:
    """A crude tokenizer: words (an underscore starts a new one), digits, spaces, punctuation."""
    return _TOKEN.findall(text) or [text]


def input_of(messages: list[dict[str, Any]]) -> str:
    """The input a request carries: the JSON string inside ``<input>`` tags of the last user message.

    >>> input_of([{"role": "user", "content": '<input>"SHELL #1"</input>'}])
    'SHELL #1'
    """
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content", "") if users else ""
    if not isinstance(content, str):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    m = _INPUT.search(content)
    if m:
        try:
            value = json.loads(m.group(1))
            if isinstance(value, str):
                return value
        except ValueError:
            pass
    return content


def labels_of(messages: list[dict[str, Any]]) -> tuple[str, ...]:
    """The label set a classification request lists: the ``Categories:`` block of its system prompt.

    >>> labels_of([{"role": "system", "content": "Sort it.\\n\\nCategories:\\n- refund\\n- billing\\n\\nAnswer."}])
    ('refund', 'billing')
    >>> labels_of([{"role": "system", "content": "Classify."}])
    ()
    """
    for m in messages:
        content = m.get("content")
        if m.get("role") == "system" and isinstance(content, str):
            found = _CATEGORIES.search(content)
            if found:
                return tuple(line[2:] for line in found.group(1).splitlines())
    return ()


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def logprobs_for(content: str, confidence: float, alternatives: tuple[tuple[str, float], ...],
                 top_n: int = 5) -> dict[str, Any]:
    """``choices[0].logprobs``: the first token carries the confidence, the rest are certain."""
    tokens = split_tokens(content)
    first_top: dict[str, float] = {tokens[0]: confidence}
    for alt, p in alternatives:
        tok = split_tokens(alt)[0]
        first_top[tok] = first_top.get(tok, 0.0) + p
    ranked = sorted(first_top.items(), key=lambda kv: -kv[1])[: max(1, top_n)]
    out = []
    for i, tok in enumerate(tokens):
        if i == 0:
            top = [_entry(t, math.log(max(p, 1e-12))) for t, p in ranked]
            out.append({**_entry(tok, math.log(max(confidence, 1e-12))), "top_logprobs": top})
        else:
            out.append({**_entry(tok, 0.0), "top_logprobs": [_entry(tok, 0.0)] if top_n else []})
    return {"content": out, "refusal": None}


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """A usage count in the spirit of a real tokenizer: 4 characters a token, 3 per message."""
    chars = sum(len(m.get("content") or "") if isinstance(m.get("content"), str) else 0 for m in messages)
    return math.ceil(chars / 4) + 3 * len(messages)


def completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """A ``chat.completion`` object answering request ``body`` with ``reply``."""
    messages = body.get("messages") or []
    want_logprobs = bool(body.get("logprobs"))
    top_n = int(body.get("top_logprobs") or 0)
    completion_tokens = len(split_tokens(reply.content))
    p_tokens = prompt_tokens(messages)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "sim-teacher"),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply.content, "refusal": None},
            "logprobs": logprobs_for(reply.content, reply.confidence, reply.alternatives, top_n)
            if want_logprobs else None,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": p_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": p_tokens + completion_tokens},
    }


def error(message: str, *, type_: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def file_object(file_id: str, filename: str, size: int, purpose: str, created_at: int) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": size, "created_at": created_at, "filename": filename,
            "purpose": purpose, "status": "processed"}
