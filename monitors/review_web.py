"""The review page's routes on the monitors' web app (auth, where configured, wraps the whole app).

* ``GET /review``: the page (``static/review.html``): one item at a time, keys
  ``a`` accept, ``c`` correct (edit the answer, Enter sends), ``s`` skip,
  ``g`` promote to the gold set; the remaining count, the pace and the
  human-vs-teacher disagreement per category;
* ``GET /api/review/next?reviewer=ID[&task=T]``: lease and show the next item (204: none left);
* ``POST /api/review/decide``: ``{task, item_id, decision, answer?, reviewer}``;
  400 with ``{"error": ...}`` naming the fix when refused (nothing changes);
* ``POST /api/review/release``: ``{task, item_id, reviewer}`` gives a lease back;
* ``GET /api/review/stats[?task=T]``: backlog, pace, disagreement, cost.
"""

from __future__ import annotations

from typing import Any, cast, get_args

from aiohttp import web

from distillery.errors import ReviewError
from distillery.events import ReviewVerdict
from monitors.review.service import ReviewService

NO_STORE = {"Cache-Control": "no-store"}


def _reviewer(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ReviewError("reviewer: give your reviewer id (1 to 200 characters), e.g. ?reviewer=ana")
    return value.strip()


def add_review_routes(app: web.Application, service: ReviewService, static: Any) -> None:
    """Add the review page and its JSON API to ``app``."""

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(static / "review.html", headers=NO_STORE)

    async def next_item(request: web.Request) -> web.Response:
        try:
            reviewer = _reviewer(request.query.get("reviewer"))
            task = request.query.get("task") or None
            if task is not None and task not in service.settings.tasks:
                raise ReviewError(f"task: unknown task {task!r}; declared tasks: {', '.join(sorted(service.settings.tasks))}")
        except ReviewError as exc:
            return web.json_response({"error": str(exc)}, status=400, headers=NO_STORE)
        item = service.next(reviewer, task)
        if item is None:
            return web.Response(status=204, headers=NO_STORE)
        return web.json_response(item, headers=NO_STORE)

    async def decide(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ReviewError("body: expected a JSON object {task, item_id, decision, answer, reviewer}")
            decision = body.get("decision")
            if decision not in get_args(ReviewVerdict):
                raise ReviewError(f"decision: {decision!r} is not one of {', '.join(get_args(ReviewVerdict))}")
            task, item_id = body.get("task"), body.get("item_id")
            if not isinstance(task, str) or not isinstance(item_id, str):
                raise ReviewError("task, item_id: both required, as the item showed them")
            record = await service.decide(task, item_id, _reviewer(body.get("reviewer")),
                                          cast(ReviewVerdict, decision),
                                          body.get("answer"), tool="web")
        except ValueError as exc:  # ReviewError, and a body that is not JSON
            return web.json_response({"error": str(exc)}, status=400, headers=NO_STORE)
        return web.json_response({"decision_id": record.decision_id, "answer": record.answer}, headers=NO_STORE)

    async def release(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            service.queue.release(str(body["task"]), str(body["item_id"]), _reviewer(body.get("reviewer")))
        except (KeyError, TypeError, ValueError) as exc:  # ValueError: not JSON, or ReviewError
            return web.json_response({"error": f"expected a JSON object with task, item_id and reviewer ({exc})"},
                                     status=400)
        return web.json_response({"released": True}, headers=NO_STORE)

    async def stats(request: web.Request) -> web.Response:
        task = request.query.get("task") or None
        if task is not None and task not in service.settings.tasks:
            return web.json_response({"error": f"task: unknown task {task!r}"}, status=400)
        return web.json_response(service.stats(task), headers=NO_STORE)

    app.router.add_get("/review", page)
    app.router.add_get("/api/review/next", next_item)
    app.router.add_post("/api/review/decide", decide)
    app.router.add_post("/api/review/release", release)
    app.router.add_get("/api/review/stats", stats)
