"""The guard middleware over a whole aiohttp app: keys, open paths, body cap, rate limit, OpenAI-shaped refusals."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from distillery.settings import HttpSettings
from distillery.webguard import Guard

KEYS = ["key-one-0123456789abcdef", "key-two-0123456789abcdef"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guarded(guard: Guard) -> web.Application:
    app = guard.application()

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"path": request.path, "bytes": len(body)})

    for path in ("/healthz", "/readyz", "/metrics", "/v1/models", "/added-later"):
        app.router.add_get(path, echo)
    app.router.add_post("/v1/route", echo)
    return app


@pytest.fixture
async def client_for() -> AsyncIterator:
    clients: list[TestClient] = []

    async def make(guard: Guard) -> TestClient:
        client = TestClient(TestServer(guarded(guard)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


def guard(clock: Clock | None = None, **conf: object) -> Guard:
    return Guard(KEYS, HttpSettings(**conf), surface="router", open_paths=("/metrics",), clock=clock or Clock())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_no_token_and_a_wrong_token_get_401_in_openais_shape(client_for) -> None:
    client = await client_for(guard())
    resp = await client.get("/v1/models")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"] == 'Bearer realm="distillery"'
    error = (await resp.json())["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, "missing_api_key")
    assert "Authorization: Bearer KEY" in error["message"]
    resp = await client.post("/v1/route", json={"task": "t"}, headers=bearer("key-one-0123456789abcdeX"))
    assert resp.status == 401
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_api_key" and "key-one" not in error["message"]  # never echoed
    for key in KEYS:
        resp = await client.get("/v1/models", headers=bearer(key))
        assert resp.status == 200 and (await resp.json())["path"] == "/v1/models"


async def test_every_route_is_guarded_but_the_probes_and_open_metrics(client_for) -> None:
    client = await client_for(guard())
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status == 200, path
    assert (await client.get("/added-later")).status == 401  # a route nobody told the guard about
    assert (await client.get("/no-such-page")).status == 401  # even a 404 needs a key first
    protected = Guard(KEYS, HttpSettings(protect_metrics=True), surface="ops page", browser=True, clock=Clock())
    client = await client_for(protected)
    resp = await client.get("/metrics")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith('Basic realm="Distillery ops page"')
    basic = "Basic " + base64.b64encode(f"prometheus:{KEYS[1]}".encode()).decode()
    assert (await client.get("/metrics", headers={"Authorization": basic})).status == 200


async def test_an_oversized_body_gets_413_naming_the_limit(client_for) -> None:
    client = await client_for(guard(max_body_bytes=2048))
    resp = await client.post("/v1/route", data=b"x" * 2049, headers=bearer(KEYS[0]))
    assert resp.status == 413
    error = (await resp.json())["error"]
    assert error["code"] == "request_too_large"
    assert error["message"] == ("request body of 2,049 bytes exceeds the limit of 2,048 bytes "
                                "([http] max_body_bytes)")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap applies as the body is read
        for _ in range(5):
            yield b"y" * 1000

    resp = await client.post("/v1/route", data=chunks(), headers=bearer(KEYS[0]))
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "request_too_large"
    resp = await client.post("/v1/route", data=b"x" * 2048, headers=bearer(KEYS[0]))
    assert resp.status == 200 and (await resp.json())["bytes"] == 2048
    resp = await client.post("/v1/route", data=b"x" * 4096)
    assert resp.status == 401  # who asks comes before what is sent


async def test_a_flood_beyond_the_rate_gets_429_with_retry_after_per_key(client_for) -> None:
    clock = Clock()
    client = await client_for(guard(clock, rate_per_s=2.0, burst=5))
    statuses = [(await client.get("/v1/models", headers=bearer(KEYS[0]))).status for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    resp = await client.get("/v1/models", headers=bearer(KEYS[0]))
    assert resp.status == 429 and resp.headers["Retry-After"] == "1"
    error = (await resp.json())["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert error["message"] == ("rate limit reached for key#1: 2 requests/s, burst 5 ([http] rate_per_s, burst); "
                                "retry after 1 s")
    assert (await client.get("/v1/models", headers=bearer(KEYS[1]))).status == 200  # the other key is untouched
    assert (await client.get("/healthz")).status == 200  # probes are never limited
    clock.now += 1.0  # two tokens back
    statuses = [(await client.get("/v1/models", headers=bearer(KEYS[0]))).status for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_guessing_keys_is_rate_limited_by_client_address(client_for) -> None:
    client = await client_for(guard(rate_per_s=1.0, burst=3))
    statuses = [(await client.get("/v1/models", headers=bearer(f"guess-{i:020d}"))).status for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert (await client.get("/v1/models", headers=bearer(KEYS[0]))).status == 200  # a real key has its own bucket


async def test_without_keys_the_guard_limits_by_client_address(client_for) -> None:
    client = await client_for(Guard([], HttpSettings(rate_per_s=1.0, burst=2), surface="router", clock=Clock()))
    statuses = [(await client.get("/v1/models")).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    resp = await client.get("/v1/models")
    assert (await resp.json())["error"]["message"].startswith("rate limit reached for addr:127.0.0.1: 1 requests/s")
