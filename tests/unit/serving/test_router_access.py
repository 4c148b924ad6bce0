"""The router is private: keys, input and body caps and the per-key rate limit, as the openai client meets them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from router_fakes import FakeStudent

from devkit.tiny_adapters import toy_spec
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from distillery.health import Readiness
from distillery.settings import HttpSettings
from distillery.webguard import Guard
from serving.http import make_app
from serving.router import Router

KEY = "router-key-0123456789abcdef"
MODEL = "distillery:toy"


def adapter() -> AdapterPublished:
    return AdapterPublished(task="toy", adapter_id="ad-1", job_id="j", uri="/x", sha256="0" * 64, base_model="b",
                            student_prompt="", metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1)),
                            router_threshold=0.5)


class NoTeacher:
    async def label(self, text: str) -> Any:
        raise AssertionError("the student answers every request of these tests")

    async def aclose(self) -> None:
        return None


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http(settings_factory: Any, request: pytest.FixtureRequest) -> AsyncIterator[TestClient]:
    limits: dict[str, Any] = getattr(request, "param", {})
    settings = settings_factory(tasks={"toy": toy_spec("toy")}, api_keys=(SecretStr(KEY),),
                                http=HttpSettings(max_input_chars=20, max_body_bytes=4096, **limits))
    student = FakeStudent(adapter())
    router = Router(settings, student, teacher=lambda task: NoTeacher(), vocabulary=lambda a: None)
    guard = Guard.from_settings(settings, "router", clock=Clock())

    async def ready() -> Readiness:
        return Readiness(False, "replaying adapters.published and adapters.control")

    client = TestClient(TestServer(make_app(router, student, guard=guard, ready=ready)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await router.aclose()


def openai_client(http: TestClient, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=str(http.make_url("/v1")), api_key=key, max_retries=0)


def ask(http: TestClient, key: str, text: str = "crow 4") -> Any:
    return openai_client(http, key).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])


async def test_the_openai_client_without_the_right_key_is_refused(http: TestClient) -> None:
    with pytest.raises(openai.AuthenticationError) as err:
        await asyncio.to_thread(ask, http, "sk-wrong-0123456789abcdef")
    assert err.value.status_code == 401 and err.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        await asyncio.to_thread(lambda: openai_client(http, "nope-0123456789abcdef").models.list())
    answer = await asyncio.to_thread(ask, http, KEY)
    assert answer.choices[0].message.content == "bird"
    resp = await http.post("/v1/route", json={"task": "toy", "input": "crow 4"})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "missing_api_key"
    resp = await http.get("/v1/adapters", headers={"Authorization": f"Bearer {KEY}"})
    assert await resp.json() == {"toy": {"serving": "ad-1", "loaded": ["ad-1"]}}


async def test_inputs_and_bodies_past_their_limits_are_refused_naming_the_limit(http: TestClient) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await asyncio.to_thread(ask, http, KEY, "crow " * 5)
    assert err.value.code == "input_too_long" and err.value.param == "messages"
    assert "messages: 25 characters exceeds the limit of 20 characters ([http] max_input_chars)" in str(err.value)
    auth = {"Authorization": f"Bearer {KEY}"}
    resp = await http.post("/v1/route", json={"task": "toy", "input": "crow " * 5}, headers=auth)
    assert resp.status == 400 and (await resp.json())["error"]["param"] == "input"
    resp = await http.post("/v1/route", json={"task": "toy", "input": "crow", "pad": "x" * 5000}, headers=auth)
    assert resp.status == 413 and "limit of 4,096 bytes ([http] max_body_bytes)" in (await resp.json())["error"]["message"]


@pytest.mark.parametrize("http", [{"rate_per_s": 0.5, "burst": 3}], indirect=True)
async def test_a_flood_gets_rate_limit_errors_with_retry_after(http: TestClient) -> None:
    for _ in range(3):
        await asyncio.to_thread(ask, http, KEY)
    with pytest.raises(openai.RateLimitError) as err:
        await asyncio.to_thread(ask, http, KEY)
    assert err.value.status_code == 429 and err.value.response.headers["Retry-After"] == "2"


async def test_probes_need_no_key_and_say_why_not_ready(http: TestClient) -> None:
    assert await (await http.get("/healthz")).json() == {"status": "ok"}
    resp = await http.get("/readyz")
    assert resp.status == 503
    assert await resp.json() == {"ready": False, "reason": "replaying adapters.published and adapters.control",
                                 "detail": {}}
