"""An OpenAI-compatible front for the router: a service switches by changing the openai client's ``base_url``.

* ``POST /v1/chat/completions``: the request's ``model`` names the task,
  ``distillery:TASK`` or an alias from ``settings.serving.model_aliases``
  (alias -> task). The text the router judges is the last user message's
  content (a string, or the text parts of a content list, joined by newlines).
  The student answers when it is confident and the input is in distribution
  (:class:`~serving.router.Router`); its answer is a ``chat.completion`` whose
  ``model`` is the request's and whose content is the label (compact JSON for
  an extraction). Otherwise the caller's own messages and parameters go to the
  task's teacher model (:meth:`streams.teacher.client.TeacherClient.forward`: retries,
  backoff, circuit breaker, redaction) and the teacher's completion comes back
  as it is.
* ``GET /v1/models`` (and ``/v1/models/{id}``): ``distillery:TASK`` for each
  task and every alias, in OpenAI's list shape.

Who answered: the header ``x-distillery-route: student|teacher`` and a
top-level ``distillery`` object in the body (``route``, ``reason``,
``confidence``, ``student_confidence``, ``adapter_id``, ``threshold``,
``event_id``); the openai client keeps unknown fields
(``completion.model_extra["distillery"]``). A caller may set its own event id
with the header ``x-distillery-event-id``.

``stream: true`` answers as server-sent events in OpenAI's chunk format, ending
with ``data: [DONE]``: the answer is complete before the first chunk leaves
(the teacher is asked without streaming, so its retries and the routing
decision still apply), then re-emitted as a role-and-content chunk per choice,
a finish chunk per choice and, with ``stream_options.include_usage``, a usage
chunk; every chunk carries the ``distillery`` object.

Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``:
400 for a bad body, an unknown model or a user message past ``[http]
max_input_chars``, 400 when the teacher refused the
forwarded request as malformed and no student could answer, 503 when the
teacher is down (or not configured) and no student serves the task.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import openai
from aiohttp import web

from distillery.access import UNREADABLE_BODY, input_too_long
from distillery.answers import encode
from distillery.errors import ConfigError, InvalidInputError, TeacherError
from distillery.settings import Settings
from serving.router import ChatResult, Router, RouteResult

ROUTE_HEADER = "x-distillery-route"
EVENT_ID_HEADER = "x-distillery-event-id"
MODEL_PREFIX = "distillery:"
MARKER = "distillery"


class AdapterStatus(Protocol):
    def serving(self, task: str) -> str | None: ...


# ------------------------------------------------------------------ pure helpers
def error_body(message: str, *, type_: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape.

    >>> error_body("no such model", param="model", code="model_not_found")["error"]["code"]
    'model_not_found'
    """
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def model_names(settings: Settings) -> dict[str, str]:
    """Every model name the router answers to -> its task: ``distillery:TASK`` and the aliases of declared tasks."""
    names = {f"{MODEL_PREFIX}{task}": task for task in sorted(settings.tasks)}
    for alias, task in sorted(settings.serving.model_aliases.items()):
        if task in settings.tasks:
            names.setdefault(alias, task)
    return names


def task_of(settings: Settings, model: str) -> str | None:
    """The task a request's ``model`` names, or None."""
    if model.startswith(MODEL_PREFIX) and model[len(MODEL_PREFIX):] in settings.tasks:
        return model[len(MODEL_PREFIX):]
    task = settings.serving.model_aliases.get(model)
    return task if task in settings.tasks else None


def last_user_text(messages: Sequence[Any]) -> str | None:
    """The last user message's text: its string content, or its text parts joined by newlines.

    >>> last_user_text([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
    ...                 {"role": "user", "content": [{"type": "text", "text": "c"}, {"type": "image_url"}]}])
    'c'
    >>> last_user_text([{"role": "system", "content": "s"}]) is None
    True
    """
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                texts = [p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text"
                         and isinstance(p.get("text"), str)]
                return "\n".join(texts) if texts else None
            return None
    return None


def marker(result: RouteResult) -> dict[str, Any]:
    """The body's ``distillery`` object: who answered and why."""
    return {"route": result.route, "reason": result.reason, "confidence": result.confidence,
            "student_confidence": result.student_confidence, "adapter_id": result.adapter_id,
            "threshold": result.threshold, "event_id": result.event_id}


def student_completion(result: RouteResult, model: str, prompt_tokens: int, completion_tokens: int,
                       created: int | None = None) -> dict[str, Any]:
    """A ``chat.completion`` object carrying the student's answer."""
    return {
        "id": f"chatcmpl-{result.event_id}",
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "system_fingerprint": result.adapter_id,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": encode(result.answer) or "", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def completion_chunks(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """A complete ``chat.completion`` re-emitted as ``chat.completion.chunk`` objects, in order.

    Per choice: one chunk with the role, the content (and refusal, tool calls
    and logprobs when present), then one with the finish reason; with
    ``include_usage`` every chunk has ``usage: null`` and a last chunk with no
    choices carries the usage.

    >>> c = {"id": "c1", "created": 1, "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
    ...      "message": {"role": "assistant", "content": "fuel"}}], "usage": {"prompt_tokens": 3}}
    >>> [(ch["choices"][0]["delta"] if ch["choices"] else ch["usage"]) for ch in completion_chunks(
    ...     c, include_usage=True)]
    [{'role': 'assistant', 'content': 'fuel'}, {}, {'prompt_tokens': 3}]
    """
    head: dict[str, Any] = {"id": completion.get("id", ""), "object": "chat.completion.chunk",
                            "created": completion.get("created", int(time.time())),
                            "model": completion.get("model", "")}
    if completion.get("system_fingerprint") is not None:
        head["system_fingerprint"] = completion["system_fingerprint"]
    if include_usage:
        head["usage"] = None
    out: list[dict[str, Any]] = []
    for i, choice in enumerate(completion.get("choices") or []):
        index = choice.get("index", i)
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": message.get("role", "assistant"), "content": message.get("content")}
        if message.get("refusal") is not None:
            delta["refusal"] = message["refusal"]
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": n, **call} for n, call in enumerate(message["tool_calls"])]
        first: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": None}
        if choice.get("logprobs") is not None:
            first["logprobs"] = choice["logprobs"]
        out.append({**head, "choices": [first]})
        out.append({**head, "choices": [{"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}]})
    if include_usage:
        out.append({**head, "choices": [], "usage": completion.get("usage")})
    return out


class StudentTokens:
    """Token counts of a student answer: its prompt as the student reads it, and the answer.

    Counts with a private copy of the server's tokenizer (``server.tokenizer``),
    used from the event loop only, so it never races the forward passes that
    use the server's own; without one, about 4 characters a token.
    """

    def __init__(self, server: object) -> None:
        tokenizer = getattr(server, "tokenizer", None)
        self.tokenizer = copy.deepcopy(tokenizer) if tokenizer is not None else None

    def count(self, prompt: str, text: str, answer: str) -> tuple[int, int]:
        if self.tokenizer is None:
            chars = len(prompt) + len(text)
            return math.ceil(chars / 4) + (2 if prompt else 1) * 3, math.ceil(len(answer) / 4)
        from trainer.data import encode_prompt

        return (len(encode_prompt(self.tokenizer, prompt, text)),
                len(self.tokenizer(text=answer, add_special_tokens=False)["input_ids"]) if answer else 0)


# ---------------------------------------------------------------------- handlers
def server_timing(out: ChatResult, total_ms: float) -> str:
    """The ``Server-Timing`` header of an answer: the student's part, the teacher's and the whole (ms).

    ``student`` is the wait for the student's answer (its batch's queue and
    forward pass), ``teacher`` the escalation, ``total`` the request in this
    replica until its answer was built (reading the body, checks, routing, the
    inference event, token counts): ``total`` less the other two is the
    router's own cost. Browsers' developer tools and most HTTP clients show it.

    >>> from serving.router import RouteResult
    >>> r = RouteResult(answer="fuel", route="student", confidence=0.9, reason="confident", model="m")
    >>> server_timing(ChatResult(r, None, student_ms=41.234), 42.5)
    'student;dur=41.23, total;dur=42.50'
    """
    parts = [f"{name};dur={ms:.2f}" for name, ms in (("student", out.student_ms), ("teacher", out.teacher_ms))
             if ms is not None]
    return ", ".join([*parts, f"total;dur={total_ms:.2f}"])


def _error(status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
           code: str | None = None) -> web.Response:
    return web.json_response(error_body(message, type_=type_, param=param, code=code), status=status)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


class OpenAIFront:
    """The handlers of ``/v1/chat/completions`` and ``/v1/models`` for one router."""

    def __init__(self, router: Router, server: AdapterStatus | None = None) -> None:
        self.router = router
        self.server = server
        self.tokens = StudentTokens(router.server)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/v1/models/{model}", self.model)

    # --------------------------------------------------------------- models
    def _model_object(self, name: str, task: str) -> dict[str, Any]:
        serving = self.server.serving(task) if self.server is not None else None
        return {"id": name, "object": "model", "created": 0, "owned_by": "distillery",
                MARKER: {"task": task, "serving": serving}}

    async def models(self, request: web.Request) -> web.Response:
        names = model_names(self.router.settings)
        return web.json_response({"object": "list", "data": [self._model_object(n, t) for n, t in names.items()]})

    async def model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        task = task_of(self.router.settings, name)
        if task is None:
            return self._unknown_model(name, status=404)
        return web.json_response(self._model_object(name, task))

    def _unknown_model(self, name: object, status: int = 400) -> web.Response:
        known = ", ".join(model_names(self.router.settings)) or "none"
        return _error(status, f"model: {name!r} names no task of this router; known models: {known}",
                      param="model", code="model_not_found")

    # ----------------------------------------------------------------- chat
    async def chat(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            body: Any = await request.json()
        except UNREADABLE_BODY:
            return _error(400, "body: expected a JSON object with model and messages", code="invalid_json")
        if not isinstance(body, dict):
            return _error(400, "body: expected a JSON object with model and messages", code="invalid_json")
        model = body.get("model")
        if not isinstance(model, str):
            return _error(400, "model: required, a string such as 'distillery:TASK'", param="model")
        task = task_of(self.router.settings, model)
        if task is None:
            return self._unknown_model(model)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return _error(400, "messages: required, a non-empty list of message objects", param="messages")
        text = last_user_text(messages)
        if text is None or not text.strip():
            return _error(400, "messages: the last user message has no text to answer", param="messages")
        limit = self.router.settings.http.max_input_chars
        if len(text) > limit:
            return web.json_response(input_too_long(len(text), limit, "messages"), status=400)
        stream = body.get("stream", False)
        if not isinstance(stream, bool | None):
            return _error(400, "stream: expected true or false", param="stream")
        event_id = request.headers.get(EVENT_ID_HEADER) or None
        try:
            out = await self.router.achat(task, text, body, event_id=event_id)
        except InvalidInputError as exc:
            return _error(400, str(exc), param="messages")
        except ConfigError as exc:  # the replica's teacher is not configured: not the caller's fault
            return _error(503, f"the teacher of task {task} is not configured and no student serves it: {exc}",
                          type_="server_error", code="teacher_unavailable")
        except TeacherError as exc:
            if isinstance(exc.__cause__, openai.BadRequestError):
                return _error(400, f"the teacher refused the request and no student serves this task: {exc}",
                              code="teacher_refused")
            return _error(503, f"the teacher could not answer and no student serves this task: {exc}",
                          type_="server_error", code="teacher_unavailable")
        payload = self._payload(out, model, text)
        headers = {ROUTE_HEADER: out.result.route,
                   "Server-Timing": server_timing(out, 1000 * (time.perf_counter() - started))}
        if stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            return await self._stream(request, payload, include_usage, headers)
        return web.json_response(payload, headers=headers, dumps=_dumps)

    def _payload(self, out: ChatResult, model: str, text: str) -> dict[str, Any]:
        result = out.result
        if out.completion is not None:
            return {**out.completion, MARKER: marker(result)}
        prompt = out.served.student_prompt if out.served is not None else ""
        prompt_tokens, completion_tokens = self.tokens.count(prompt, text, encode(result.answer) or "")
        return {**student_completion(result, model, prompt_tokens, completion_tokens), MARKER: marker(result)}

    async def _stream(self, request: web.Request, payload: dict[str, Any], include_usage: bool,
                      headers: Mapping[str, str]) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers})
        await resp.prepare(request)
        for chunk in completion_chunks(payload, include_usage=include_usage):
            chunk[MARKER] = payload[MARKER]
            await resp.write(f"data: {_dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
