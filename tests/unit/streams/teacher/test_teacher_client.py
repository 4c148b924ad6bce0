"""The teacher client against the real local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from devkit.sim.teacher_model import SimTeacher
from devkit.sim.teacher_server import SimTeacherServer
from distillery.errors import TeacherError, TeacherUnavailableError
from distillery.settings import load_settings
from distillery.taskspec import TaskSpec
from streams.teacher.circuit import CircuitBreaker
from streams.teacher.client import RetryPolicy, TeacherClient
from streams.teacher.cost import cost_usd

ROOT = Path(__file__).resolve().parents[4]
FAST = RetryPolicy(base_s=0.001, cap_s=0.01, max_retry_after_s=1.0)
PII = ["jane.doe@example.com", "4111 1111 1111 1111", "(206) 555-0199"]


def spec(**teacher: Any) -> TaskSpec:
    s = load_settings(ROOT / "distillery.toml", env={}).task("transactions")
    return s.model_copy(update={"teacher": s.teacher.model_copy(update={"max_retries": 3, **teacher})})


class Sleeps:
    """Records every backoff and sleeps for real (they are milliseconds here)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(delay)


def chat_bodies(server: SimTeacherServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.requests if r.path == "/v1/chat/completions"]


async def test_label_has_label_confidence_usage_and_cost() -> None:
    teacher = SimTeacher(seed=0)
    async with SimTeacherServer(teacher) as server:
        async with TeacherClient(spec(), api_key="k", base_url=server.base_url, retry=FAST) as client:
            r = await client.label("STARBUCKS #1234 SEATTLE WA")
    expected = teacher.answer("STARBUCKS #1234 SEATTLE WA")
    assert (r.label, r.text, r.attempts, r.batch, r.model) == ("coffee_shops", "coffee_shops", 1, False, "gpt-4.1")
    assert r.confidence == pytest.approx(expected.confidence)
    assert r.prompt_tokens > 250 and r.completion_tokens == 2
    assert r.cost_usd == cost_usd(r.prompt_tokens, r.completion_tokens, spec().teacher)
    assert r.prompt_chars > 1000 and r.latency_s > 0


async def test_retries_429_honouring_retry_after_then_succeeds() -> None:
    sleeps = Sleeps()
    async with SimTeacherServer() as server:
        server.faults.rate_limit(2, retry_after_s=0.05)
        async with TeacherClient(spec(), api_key="k", base_url=server.base_url, retry=FAST, sleep=sleeps,
                                 seed=1) as client:
            r = await client.label("SHELL OIL 57444 PORTLAND OR")
            assert (r.label, r.attempts) == ("fuel", 3)
            assert client.stats["rate_limited"] == 2 and client.stats["retries"] == 2
            assert client.breaker.failures == 0  # 429 is not an outage
    assert sleeps.delays == [0.05, 0.05]
    assert server.count("/v1/chat/completions") == 3


async def test_retries_5xx_with_jittered_backoff() -> None:
    sleeps = Sleeps()
    async with SimTeacherServer() as server:
        server.faults.server_error(2, status=502)
        async with TeacherClient(spec(), api_key="k", base_url=server.base_url, retry=FAST, sleep=sleeps,
                                 seed=1) as client:
            r = await client.label("KROGER #12 AUSTIN TX")
    assert (r.label, r.attempts) == ("groceries", 3)
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.001 and 0 <= sleeps.delays[1] <= 0.002  # full jitter under base * 2**n


async def test_gives_up_after_max_retries() -> None:
    async with SimTeacherServer() as server:
        server.faults.server_error(10)
        async with TeacherClient(spec(max_retries=2), api_key="k", base_url=server.base_url, retry=FAST) as client:
            with pytest.raises(TeacherUnavailableError, match=r"gave up after 3 attempts; last error: "
                                                              r"InternalServerError"):
                await client.label("KROGER #12 AUSTIN TX")
    assert server.count("/v1/chat/completions") == 3


async def test_timeouts_are_retried() -> None:
    async with SimTeacherServer() as server:
        server.faults.slow(1, delay_s=0.5)
        async with TeacherClient(spec(timeout_s=0.2), api_key="k", base_url=server.base_url,
                                 retry=FAST) as client:
            r = await client.label("NETFLIX.COM")
            assert client.stats["timeouts"] == 1
    assert (r.label, r.attempts) == ("streaming_services", 2)


async def test_malformed_body_fails_clearly_without_retry() -> None:
    async with SimTeacherServer() as server:
        server.faults.malformed(1)
        async with TeacherClient(spec(), api_key="k", base_url=server.base_url, retry=FAST) as client:
            with pytest.raises(TeacherError, match=r"malformed response .*check that base_url points at an "
                                                   r"OpenAI-compatible /v1 endpoint") as info:
                await client.label("NETFLIX.COM")
            assert not isinstance(info.value, TeacherUnavailableError)
            assert client.breaker.failures == 1
    assert server.count("/v1/chat/completions") == 1


async def test_other_4xx_is_not_retried() -> None:
    async with SimTeacherServer() as server:
        server.faults.bad_request(1, "model 'gpt-4.1' does not exist")
        async with TeacherClient(spec(), api_key="k", base_url=server.base_url, retry=FAST) as client:
            with pytest.raises(TeacherError, match="refused with HTTP 400: .*does not exist; check the model name"):
                await client.label("NETFLIX.COM")
            assert client.breaker.failures == 0
    assert server.count("/v1/chat/completions") == 1


async def test_endpoint_refusing_logprobs_is_asked_without_them() -> None:
    async with SimTeacherServer() as server:
        server.faults.bad_request(1, "logprobs is not supported with this model")
        async with TeacherClient(spec(), api_key="k", base_url=server.base_url, retry=FAST) as client:
            r = await client.label("NETFLIX.COM")
            r2 = await client.label("SPOTIFY USA")
    assert (r.label, r.confidence, r2.label, r2.confidence) == ("streaming_services", None, "streaming_services", None)
    assert [b.get("logprobs") for b in chat_bodies(server)] == [True, None, None]


async def test_circuit_opens_on_outage_fails_fast_then_half_opens_and_recovers() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=30, clock=lambda: now[0])
    async with SimTeacherServer() as server:
        server.faults.down_for(3600)
        async with TeacherClient(spec(max_retries=5), api_key="k", base_url=server.base_url, retry=FAST,
                                 breaker=breaker) as client:
            with pytest.raises(TeacherUnavailableError, match="circuit open after 3 consecutive failures"):
                await client.label("NETFLIX.COM")
            assert server.count("/v1/chat/completions") == 3  # opened mid-retries: no 4th attempt
            for _ in range(20):
                with pytest.raises(TeacherUnavailableError, match="failing fast"):
                    await client.label("NETFLIX.COM")
            assert server.count("/v1/chat/completions") == 3  # fail fast: nothing reached the server
            assert breaker.fast_failures == 21
            now[0] = 30.0  # cool-down over, but still down: the probe fails and it re-opens
            with pytest.raises(TeacherUnavailableError):
                await client.label("NETFLIX.COM")
            assert server.count("/v1/chat/completions") == 4 and breaker.state == "open"
            server.faults.clear()
            now[0] = 60.0
            r = await client.label("NETFLIX.COM")
            assert (r.label, breaker.state, breaker.times_opened) == ("streaming_services", "closed", 2)


async def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with TeacherClient(spec(max_retries=2), api_key="k", base_url=f"http://127.0.0.1:{port}/v1",
                             retry=FAST) as client:
        with pytest.raises(TeacherUnavailableError, match="gave up after 3 attempts; last error: APIConnectionError"):
            await client.label("NETFLIX.COM")
        assert client.stats["connection_errors"] == 3 and client.breaker.failures == 3


async def test_pii_never_reaches_the_server() -> None:
    async with SimTeacherServer() as server:
        async with TeacherClient(spec(), api_key="k", base_url=server.base_url, retry=FAST) as client:
            r = await client.label(f"ZELLE TO {PII[0]} CARD {PII[1]} TEL {PII[2]}")
    assert r.label == "transfers_p2p"
    seen = server.received_text()
    assert not [p for p in PII if p in seen]
    assert '"ZELLE TO [EMAIL] CARD [CARD] TEL [PHONE]"' in chat_bodies(server)[0]["messages"][1]["content"]


async def test_concurrency_is_bounded_by_the_spec() -> None:
    async with SimTeacherServer(latency_s=0.05) as server:
        async with TeacherClient(spec(concurrency=4), api_key="k", base_url=server.base_url, retry=FAST) as client:
            results = await asyncio.gather(*(client.label(f"KROGER #{i} AUSTIN TX") for i in range(16)))
    assert [r.label for r in results] == ["groceries"] * 16
    assert server.max_in_flight == 4


async def test_a_cancelled_probe_frees_the_half_open_slot() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=1, clock=lambda: now[0])
    async with SimTeacherServer() as server:
        async with TeacherClient(spec(), api_key="k", base_url=server.base_url, retry=FAST,
                                 breaker=breaker) as client:
            breaker.record_failure()
            now[0] = 1.0
            server.faults.slow(1, delay_s=0.3)
            probe = asyncio.create_task(client.label("NETFLIX.COM"))
            await asyncio.sleep(0.1)
            assert breaker.state == "half_open"
            probe.cancel()
            with pytest.raises(asyncio.CancelledError):
                await probe
            r = await client.label("NETFLIX.COM")
    assert (r.label, breaker.state) == ("streaming_services", "closed")
