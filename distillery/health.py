"""``/healthz`` and ``/readyz`` for every worker, and the small server that carries them.

* ``/healthz``: the process's event loop answers (200 ``{"status": "ok"}``);
  a liveness probe restarts the container when it stops answering.
* ``/readyz``: 200 when the worker can do its job now, else 503; the JSON says
  why (:class:`Readiness`). For a Kafka consumer that means it joined its group
  (an assignment arrived, even an empty one: a spare replica is ready to take
  over) and is at most ``[http] ready_max_lag`` messages behind the ends of its
  partitions (:func:`judge`).

The router and the monitors add these routes to their own applications
(:func:`add_health_routes`); the streams and trainer workers, which serve no
HTTP otherwise, start a :class:`HealthServer` when their ``health_port`` is set.

>>> judge(joined=True, partitions=2, lag=12, max_lag=100).ready
True
>>> judge(joined=True, partitions=2, lag=500, max_lag=100).reason
'500 messages behind the ends of 2 partitions (ready at 100 or fewer)'
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

log = logging.getLogger("distillery.health")


@dataclass(frozen=True)
class Readiness:
    """Whether a worker is ready, in a sentence, with the figures behind it."""

    ready: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


ReadyCheck = Callable[[], Awaitable[Readiness]]


def judge(*, joined: bool, partitions: int, lag: int | None, max_lag: int) -> Readiness:
    """A consumer's readiness from its group membership and lag (pure)."""
    detail = {"partitions": partitions, "lag": lag, "max_lag": max_lag}
    if not joined:
        return Readiness(False, "not yet a member of its consumer group (no assignment)", detail)
    if partitions == 0:
        return Readiness(True, "joined, no partition assigned (a spare replica)", detail)
    if lag is None:
        return Readiness(False, f"the ends of its {partitions} partitions are not known yet", detail)
    if lag > max_lag:
        return Readiness(False, f"{lag} messages behind the ends of {partitions} partitions "
                                f"(ready at {max_lag} or fewer)", detail)
    return Readiness(True, f"caught up: {lag} messages behind over {partitions} partitions", detail)


async def consumer_lag(consumer: AIOKafkaConsumer, *, timeout_s: float = 1.0) -> tuple[int, int | None]:
    """(partitions assigned, messages between their positions and their ends); lag None while unknown.

    All positions are read within ``timeout_s`` together, so a probe's answer never waits longer.
    """
    assigned = sorted(consumer.assignment())
    ends = [consumer.highwater(tp) for tp in assigned]
    if any(end is None for end in ends):
        return len(assigned), None

    async def positions() -> list[int]:
        return [await consumer.position(tp) for tp in assigned]

    try:
        at = await asyncio.wait_for(positions(), timeout_s)
    except (TimeoutError, KafkaError):  # no position yet, or a partition was revoked meanwhile
        return len(assigned), None
    return len(assigned), sum(max(0, end - pos) for end, pos in zip(ends, at, strict=True) if end is not None)


def add_health_routes(app: web.Application, ready: ReadyCheck | None = None) -> None:
    """``GET /healthz`` and ``GET /readyz`` on ``app`` (no ``ready``: ready once serving)."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        state = await ready() if ready is not None else Readiness(True, "serving")
        return web.json_response(asdict(state), status=200 if state.ready else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: any free port); return the runner and the port bound."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp keeps the asyncio server here; the only way to learn port 0's pick
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


class HealthServer:
    """The health endpoints alone, for a worker without another HTTP surface."""

    def __init__(self, ready: ReadyCheck, *, name: str) -> None:
        self.ready = ready
        self.name = name
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        app = web.Application()
        add_health_routes(app, self.ready)
        self.runner, self.port = await start_site(app, host, port)
        log.info("%s health on http://%s:%d/healthz and /readyz", self.name, host, self.port)
        return self.port

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
