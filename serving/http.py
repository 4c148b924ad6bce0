"""A small HTTP front for an in-process serving replica (``distillery adapters watch --port``).

``POST /v1/route`` with ``{"task": ..., "input": ..., "event_id": optional}``
answers through the :class:`~serving.router.Router` (student or teacher) and
returns the :class:`~serving.router.RouteResult` as JSON; ``GET /v1/adapters``
says which adapter serves each task. Bad requests answer 400 naming the field, in
OpenAI's error shape (``{"error": {"message", "type", "param", "code"}}``) like every refusal;
an escalation the teacher cannot answer (down, or not configured) when no
student can either answers 503.

The same app serves the OpenAI-compatible ``POST /v1/chat/completions`` and
``GET /v1/models`` (:mod:`serving.openai_api`), so a service switches to the
router by changing its openai client's ``base_url``.

Every route sits behind a :class:`~distillery.webguard.Guard`: an API key from
``DISTILLERY_API_KEYS`` as ``Authorization: Bearer KEY`` (the openai client's
``api_key``), a body cap, a per-key rate limit; inputs longer than ``[http]
max_input_chars`` get 400. ``/healthz`` and ``/readyz`` stay open for probes;
ready means the replica has replayed the adapter topics and serves what they say.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Protocol

from aiohttp import web

from distillery.access import UNREADABLE_BODY, input_too_long, openai_error
from distillery.errors import ConfigError, InvalidInputError, TeacherError
from distillery.health import ReadyCheck, add_health_routes
from distillery.webguard import Guard
from serving.openai_api import OpenAIFront
from serving.router import Router


class AdapterStatus(Protocol):
    """What ``GET /v1/adapters`` reads (:class:`serving.adapters.InProcessServer`)."""

    def serving(self, task: str) -> str | None: ...

    def loaded(self, task: str) -> list[str]: ...


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> web.Response:
    """OpenAI's error shape, as every other refusal of the replica (the guard's, ``/v1/chat/completions``)."""
    type_ = "server_error" if status >= 500 else "invalid_request_error"
    return web.json_response(openai_error(message, type_=type_, param=param, code=code), status=status)


def make_app(router: Router, server: AdapterStatus, *, guard: Guard | None = None,
             ready: ReadyCheck | None = None) -> web.Application:
    """The aiohttp application of one replica.

    ``guard`` defaults to the one the router's settings describe (keys from the
    environment); ``ready`` answers ``/readyz`` (default: ready once serving).
    """
    guard = guard or Guard.from_settings(router.settings, "router")
    max_input = router.settings.http.max_input_chars

    async def route(request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except UNREADABLE_BODY:
            return _error(400, "body: expected a JSON object such as {\"task\": \"...\", \"input\": \"...\"}",
                          code="invalid_json")
        if not isinstance(body, dict) or not isinstance(body.get("task"), str) or not isinstance(
                body.get("input"), str):
            return _error(400, "task, input: both are required strings", param="input")
        if body["task"] not in router.settings.tasks:
            known = ", ".join(sorted(router.settings.tasks)) or "none"
            return _error(400, f"task: unknown task {body['task']!r}; declared tasks: {known}", param="task")
        if len(body["input"]) > max_input:
            return web.json_response(input_too_long(len(body["input"]), max_input, "input"), status=400)
        event_id = body.get("event_id")
        try:
            result = await router.aroute(body["task"], body["input"],
                                         event_id=event_id if isinstance(event_id, str) else None)
        except InvalidInputError as exc:
            return _error(400, str(exc))
        except ConfigError as exc:  # the replica's teacher is not configured: not the caller's fault
            return _error(503, str(exc), code="teacher_unavailable")
        except TeacherError as exc:
            return _error(503, f"the teacher could not answer and no student serves this task: {exc}",
                          code="teacher_unavailable")
        return web.json_response(dataclasses.asdict(result), dumps=lambda o: json.dumps(o, default=str))

    async def adapters(request: web.Request) -> web.Response:
        tasks = sorted(router.settings.tasks)
        return web.json_response({t: {"serving": server.serving(t), "loaded": server.loaded(t)} for t in tasks})

    app = guard.application()
    add_health_routes(app, ready)
    app.router.add_post("/v1/route", route)
    app.router.add_get("/v1/adapters", adapters)
    OpenAIFront(router, server).add_routes(app)
    return app
