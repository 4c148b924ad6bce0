"""HTTP side of the monitors worker: the Prometheus endpoint and the ops page.

* ``/metrics`` (on ``monitors.http_port``): the :class:`~monitors.metrics.OpsCollector` families;
* ``/`` (on ``monitors.web_port``): the ops page, a static HTML page whose
  script (``static/ops.js``, self-contained: nothing is fetched from the
  internet) draws per task the agreement, the category mix and the alarms
  over time as inline SVG, refreshing every few seconds from ``/api/state``;
  ``?refresh=SECONDS`` changes the interval. The ops site serves ``/metrics`` too;
* ``/review`` and ``/api/review/*`` (on ``monitors.web_port``): the human review
  queue (:mod:`monitors.review_web`), when the worker runs one.

Port 0 means any free port; :func:`serve` returns the ports actually bound.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from monitors.metrics import Ops, registry_for
from monitors.review.service import ReviewService
from monitors.review_web import add_review_routes

log = logging.getLogger("distillery.monitors")

STATIC = Path(__file__).resolve().parent / "static"


def _metrics_handler(registry: CollectorRegistry) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """The Prometheus endpoint alone."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics_handler(registry))
    return app


def ops_app(ops: Ops, registry: CollectorRegistry | None = None,
            review: ReviewService | None = None) -> web.Application:
    """The ops page, its JSON and static files, and ``/metrics``; the review page when ``review`` is given."""
    registry = registry or registry_for(ops)

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "ops.html", headers={"Cache-Control": "no-store"})

    async def state(_: web.Request) -> web.Response:
        return web.json_response(ops.view(), headers={"Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/api/state", state)
    app.router.add_get("/metrics", _metrics_handler(registry))
    app.router.add_static("/static", STATIC)
    if review is not None:
        add_review_routes(app, review, STATIC)
    return app


@dataclass
class Served:
    """The running HTTP sites and the ports they listen on."""

    runners: list[web.AppRunner]
    http_port: int
    web_port: int

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp keeps the asyncio server here; the only way to learn port 0's pick
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


async def serve(ops: Ops, *, host: str, http_port: int, web_port: int,
                review: ReviewService | None = None) -> Served:
    """Start the metrics endpoint and the ops page (one site when both ask for the same port)."""
    registry = registry_for(ops)
    if http_port == web_port and http_port != 0:
        runner, port = await _start(ops_app(ops, registry, review), host, web_port)
        served = Served([runner], port, port)
    else:
        m_runner, m_port = await _start(metrics_app(registry), host, http_port)
        o_runner, o_port = await _start(ops_app(ops, registry, review), host, web_port)
        served = Served([m_runner, o_runner], m_port, o_port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    log.info("metrics on http://%s:%d/metrics, ops page on http://%s:%d/", shown, served.http_port, shown,
             served.web_port)
    return served
