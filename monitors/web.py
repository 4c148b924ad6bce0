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

Both sites sit behind one :class:`~distillery.webguard.Guard`: every route
(pages added later included) needs an API key, as ``Authorization: Bearer KEY``
or, from a browser, as the password of the Basic prompt the 401 raises; only
``/healthz``, ``/readyz`` and, unless ``[http] protect_metrics``, ``/metrics``
are open. With no key configured they may only listen on loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from distillery.health import ReadyCheck, add_health_routes, start_site
from distillery.settings import HttpSettings
from distillery.webguard import Guard
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


def open_guard() -> Guard:
    """No keys (loopback only, see :meth:`Guard.check_host`), ``/metrics`` open: what tests and defaults use."""
    return Guard([], HttpSettings(), surface="ops page", open_paths=("/metrics",), browser=True)


def metrics_app(registry: CollectorRegistry, *, guard: Guard | None = None,
                ready: ReadyCheck | None = None) -> web.Application:
    """The Prometheus endpoint alone (and the health routes)."""
    app = (guard or open_guard()).application()
    add_health_routes(app, ready)
    app.router.add_get("/metrics", _metrics_handler(registry))
    return app


def ops_app(ops: Ops, registry: CollectorRegistry | None = None, *, guard: Guard | None = None,
            ready: ReadyCheck | None = None, review: ReviewService | None = None) -> web.Application:
    """The ops page, its JSON and static files, ``/metrics`` and the health routes, behind ``guard``.

    The review page and its API come along when ``review`` is given.
    """
    registry = registry or registry_for(ops)

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "ops.html", headers={"Cache-Control": "no-store"})

    async def state(_: web.Request) -> web.Response:
        return web.json_response(ops.view(), headers={"Cache-Control": "no-store"})

    app = (guard or open_guard()).application()
    add_health_routes(app, ready)
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


async def serve(ops: Ops, *, host: str, http_port: int, web_port: int, guard: Guard | None = None,
                ready: ReadyCheck | None = None, review: ReviewService | None = None) -> Served:
    """Start the metrics endpoint and the ops page (one site when both ask for the same port).

    Raises :class:`~distillery.errors.ConfigError` before binding a non-loopback
    ``host`` when ``guard`` holds no key.
    """
    guard = guard or open_guard()
    guard.check_host(host)
    registry = registry_for(ops)
    if http_port == web_port and http_port != 0:
        app = ops_app(ops, registry, guard=guard, ready=ready, review=review)
        runner, port = await start_site(app, host, web_port)
        served = Served([runner], port, port)
    else:
        m_runner, m_port = await start_site(metrics_app(registry, guard=guard, ready=ready), host, http_port)
        o_runner, o_port = await start_site(ops_app(ops, registry, guard=guard, ready=ready, review=review), host, web_port)
        served = Served([m_runner, o_runner], m_port, o_port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    log.info("metrics on http://%s:%d/metrics, ops page on http://%s:%d/", shown, served.http_port, shown,
             served.web_port)
    return served
