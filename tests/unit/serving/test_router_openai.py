"""The OpenAI-compatible router, driven by the real openai client against a fake student and the simulated teacher."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from aiohttp.test_utils import TestClient, TestServer
from router_fakes import FakeStudent, Sink

from devkit.sim.teacher_server import SimTeacherServer
from devkit.sim.wire import Reply
from devkit.tiny_adapters import toy_spec
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from distillery.settings import ServingSettings, Settings
from serving.http import make_app
from serving.router import Router
from streams.teacher.circuit import CircuitBreaker
from streams.teacher.client import RetryPolicy, TeacherClient

FAST = RetryPolicy(base_s=0.001, cap_s=0.002, max_retry_after_s=0.01)
MODEL = "distillery:toy"
SURE = "crow 4"  # the fake student is sure of texts with "crow" in them, unsure of the others
UNSURE = "pear 7"


def adapter() -> AdapterPublished:
    return AdapterPublished(task="toy", adapter_id="ad-7", job_id="j", uri="/x", sha256="0" * 64, base_model="tiny",
                            student_prompt="Label it.", router_threshold=0.5,
                            metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1)))


@dataclass
class World:
    settings: Settings
    student: FakeStudent
    teacher: SimTeacherServer
    router: Router
    sink: Sink
    http: TestClient

    @property
    def base_url(self) -> str:
        return str(self.http.make_url("/v1"))

    def sync_client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key="unused", max_retries=0)

    def async_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key="unused", max_retries=0)

    def teacher_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.teacher.requests if r.path == "/v1/chat/completions"]


@pytest.fixture
async def world(settings_factory: Any, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    opts: dict[str, Any] = getattr(request, "param", {})
    settings = settings_factory(tasks={"toy": toy_spec("toy")},
                                serving=ServingSettings(model_aliases={"gpt-4.1": "toy", "ghost": "nope"},
                                                        max_batch=opts.get("max_batch", 32),
                                                        max_wait_ms=opts.get("max_wait_ms", 5.0)))
    student = FakeStudent(adapter() if opts.get("adapter", True) else None, opts.get("delay_s", 0.0))
    sink = Sink()
    async with SimTeacherServer(responder=lambda text, body: Reply("metal", 0.97)) as sim:
        def teacher(task: str) -> TeacherClient:
            return TeacherClient(settings.task(task), api_key="k", base_url=sim.base_url, retry=FAST,
                                 breaker=CircuitBreaker(failure_threshold=50))

        router = Router(settings, student, sink, teacher=teacher, vocabulary=lambda a: None)
        http = TestClient(TestServer(make_app(router, student)))
        await http.start_server()
        try:
            yield World(settings, student, sim, router, sink, http)
        finally:
            await http.close()
            await router.aclose()


def marker_of(obj: Any) -> dict[str, Any]:
    extra = obj.model_extra or {}
    assert "distillery" in extra, extra
    return dict(extra["distillery"])


async def test_the_sync_client_gets_the_students_answer_with_the_route_marked(world: World) -> None:
    def call() -> Any:
        return world.sync_client().chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "system", "content": "Categorise."}, {"role": "user", "content": SURE}])

    raw = await asyncio.to_thread(call)
    assert raw.headers["x-distillery-route"] == "student"
    completion = raw.parse()
    assert (completion.object, completion.model, completion.choices[0].message.content,
            completion.choices[0].finish_reason) == ("chat.completion", MODEL, "bird", "stop")
    assert completion.id.startswith("chatcmpl-") and completion.created > 0
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens == 1
    mark = marker_of(completion)
    assert (mark["route"], mark["reason"], mark["confidence"], mark["adapter_id"], mark["threshold"]) == (
        "student", "confident", 0.91, "ad-7", 0.5)
    assert world.teacher_bodies() == []
    (ev,) = world.sink.events
    assert (ev.event_id, ev.input, ev.output, ev.route, ev.model) == (mark["event_id"], SURE, "bird", "student",
                                                                       "tiny")


async def test_the_async_client_gets_the_teachers_completion_as_it_came(world: World) -> None:
    client = world.async_client()
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4.1", temperature=0.3, seed=11, user="svc-1",
        messages=[{"role": "system", "content": "Pick a category."},
                  {"role": "user", "content": [{"type": "text", "text": UNSURE},
                                               {"type": "text", "text": "mail jane.doe@example.com"}]}])
    assert raw.headers["x-distillery-route"] == "teacher"
    completion = raw.parse()
    body = json.loads(raw.text)
    (sent,) = world.teacher_bodies()
    # the caller's own messages and parameters went to the teacher's model, PII redacted, not streamed
    assert sent["model"] == "gpt-4.1" and (sent["temperature"], sent["seed"], sent["user"]) == (0.3, 11, "svc-1")
    assert sent["messages"][0] == {"role": "system", "content": "Pick a category."}
    assert sent["messages"][1]["content"][1]["text"] == "mail [EMAIL]" and "stream" not in sent
    # the teacher's completion, unchanged, plus the marker
    assert completion.choices[0].message.content == "metal" and completion.model == "gpt-4.1"
    assert body["id"].startswith("chatcmpl-") and body["usage"]["prompt_tokens"] > 0
    mark = marker_of(completion)
    assert (mark["route"], mark["reason"], mark["student_confidence"], mark["adapter_id"]) == (
        "teacher", "low_confidence", 0.2, "ad-7")
    (ev,) = world.sink.events
    assert (ev.route, ev.model, ev.output, ev.input) == ("teacher", "gpt-4.1", "metal",
                                                         f"{UNSURE}\nmail jane.doe@example.com")
    assert ev.usage is not None and ev.usage.prompt_tokens == body["usage"]["prompt_tokens"]
    assert ev.metadata is not None and ev.metadata["student_answer"] == "fruit"
    await client.close()


@pytest.mark.parametrize("text,route,content", [(SURE, "student", "bird"), (UNSURE, "teacher", "metal")])
async def test_streaming_answers_in_chunks_ending_with_done(world: World, text: str, route: str,
                                                            content: str) -> None:
    client = world.async_client()
    stream = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}],
                                                  stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == content
    assert [c.choices[0].finish_reason for c in chunks if c.choices] == [None, "stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    assert {marker_of(c)["route"] for c in chunks} == {route}
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    resp = await world.http.post("/v1/chat/completions", json={
        "model": MODEL, "stream": True, "messages": [{"role": "user", "content": text}]})
    assert resp.headers["x-distillery-route"] == route
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    raw = await resp.text()
    assert raw.rstrip().endswith("data: [DONE]") and raw.count("data: ") == 3
    assert [e.route for e in world.sink.events] == [route, route]  # each request emitted once
    if route == "teacher":
        assert all("stream" not in b and "stream_options" not in b for b in world.teacher_bodies())
    await client.close()


async def test_models_lists_each_task_and_the_aliases(world: World) -> None:
    client = world.async_client()
    models = await client.models.list()
    assert [(m.id, m.owned_by) for m in models.data] == [(MODEL, "distillery"), ("gpt-4.1", "distillery")]
    assert marker_of(models.data[0]) == {"task": "toy", "serving": "ad-7"}
    assert (await client.models.retrieve("gpt-4.1")).id == "gpt-4.1"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("ghost")  # an alias of an undeclared task names nothing
    await client.close()


async def test_bad_requests_and_unknown_models_answer_400_in_openais_shape(world: World) -> None:
    client = world.async_client()
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 400 and caught.value.code == "model_not_found"
    assert "known models: distillery:toy, gpt-4.1" in caught.value.message
    for body, param in (("not json", None), ({"messages": []}, "model"),
                        ({"model": MODEL, "messages": []}, "messages"),
                        ({"model": MODEL, "messages": [{"role": "system", "content": "x"}]}, "messages"),
                        ({"model": MODEL, "messages": [{"role": "user", "content": "  "}]}, "messages"),
                        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream")):
        resp = await (world.http.post("/v1/chat/completions", data=body) if isinstance(body, str)
                      else world.http.post("/v1/chat/completions", json=body))
        assert resp.status == 400, body
        error = (await resp.json())["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
        assert error["param"] == param, body
    assert world.sink.events == []
    await client.close()


@pytest.mark.parametrize("world", [{"adapter": False}], indirect=True)
async def test_teacher_down_and_no_student_answers_503_in_openais_shape(world: World) -> None:
    world.teacher.faults.down_for(60)
    client = world.async_client()
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": SURE}])
    assert caught.value.status_code == 503
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "teacher_unavailable" and body["type"] == "server_error"
    assert "gave up after 6 attempts" in body["message"]
    assert world.sink.events == [] and world.student.passes == []
    world.teacher.faults.clear()
    world.teacher.faults.bad_request(1, "unknown parameter: frobnicate")
    with pytest.raises(openai.BadRequestError) as refused:  # the caller's request, refused: not a 503
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": SURE}])
    assert refused.value.code == "teacher_refused" and "frobnicate" in refused.value.message
    ok = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": SURE}])
    assert marker_of(ok)["reason"] == "no_adapter" and ok.choices[0].message.content == "metal"
    assert [e.route for e in world.sink.events] == ["teacher"]
    await client.close()


async def test_teacher_down_with_a_student_degrades_to_the_student(world: World) -> None:
    world.teacher.faults.down_for(60)
    client = world.async_client()
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": UNSURE}], extra_headers={"x-distillery-event-id": "ev-1"})
    completion = raw.parse()
    assert raw.headers["x-distillery-route"] == "student" and completion.choices[0].message.content == "fruit"
    assert marker_of(completion)["reason"] == "teacher_failed" and marker_of(completion)["event_id"] == "ev-1"
    assert [(e.event_id, e.route) for e in world.sink.events] == [("ev-1", "student")]
    await client.close()


@pytest.mark.parametrize("world", [{"max_wait_ms": 50.0, "delay_s": 0.02}], indirect=True)
async def test_a_burst_takes_fewer_forward_passes_than_requests_and_each_is_emitted_once(world: World) -> None:
    client = world.async_client()
    texts = [f"{'crow' if i % 2 else 'pear'} {i}" for i in range(24)]
    got = await asyncio.gather(*(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": t}]) for t in texts))
    assert [c.choices[0].message.content for c in got] == ["metal" if i % 2 == 0 else "bird" for i in range(24)]
    stats = world.router.batch_stats("toy")
    assert stats.requests == 24 == sum(world.student.passes)
    assert len(world.student.passes) == stats.batches < 24 and stats.mean_batch_size > 1
    ids = [marker_of(c)["event_id"] for c in got]
    assert sorted(e.event_id for e in world.sink.events) == sorted(ids) and len(set(ids)) == 24
    assert sum(e.route == "teacher" for e in world.sink.events) == 12
    await client.close()


async def test_the_route_endpoint_still_answers(world: World) -> None:
    resp = await world.http.post("/v1/route", json={"task": "toy", "input": SURE})
    assert resp.status == 200 and (await resp.json())["route"] == "student"
    assert world.router.batch_stats().requests == 1


def test_student_usage_counts_with_a_private_copy_of_the_servers_tokenizer(tmp_path: Any) -> None:
    from devkit.tiny_adapters import TOY_LABELS, TOY_PROMPT, toy_texts
    from devkit.tiny_student import build_tiny_model
    from serving.openai_api import StudentTokens
    from trainer.data import encode_prompt
    from trainer.loading import load_tokenizer

    base = build_tiny_model(tmp_path / "tiny", toy_texts(32, 1) + TOY_LABELS + [TOY_PROMPT], seed=0)

    class Server:
        tokenizer = load_tokenizer(str(base))

    counter = StudentTokens(Server())
    assert counter.tokenizer is not Server.tokenizer
    prompt_tokens, completion_tokens = counter.count(TOY_PROMPT, "crow 12", "bird")
    assert prompt_tokens == len(encode_prompt(Server.tokenizer, TOY_PROMPT, "crow 12")) > 3
    assert 1 <= completion_tokens <= 4
    assert StudentTokens(object()).count("", "abcdefgh", "") == (2 + 3, 0)  # no tokenizer: ~4 characters a token


def timings(header: str) -> dict[str, float]:
    """``Server-Timing: student;dur=41.23, total;dur=42.50`` as ``{"student": 41.23, "total": 42.5}``."""
    out = {}
    for part in header.split(","):
        name, dur = part.strip().split(";dur=")
        out[name] = float(dur)
    return out


@pytest.mark.parametrize("text,route,parts", [(SURE, "student", {"student", "total"}),
                                              (UNSURE, "teacher", {"student", "teacher", "total"})])
async def test_server_timing_shows_the_students_and_the_teachers_part_of_the_whole(
        world: World, text: str, route: str, parts: set[str]) -> None:
    for stream in (False, True):
        resp = await world.http.post("/v1/chat/completions", json={
            "model": MODEL, "stream": stream, "messages": [{"role": "user", "content": text}]})
        assert resp.status == 200 and resp.headers["x-distillery-route"] == route
        got = timings(resp.headers["Server-Timing"])
        assert set(got) == parts
        assert 0 < sum(v for k, v in got.items() if k != "total") <= got["total"]
