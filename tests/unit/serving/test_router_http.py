"""The replica's HTTP front: routes through the router, says what serves, and answers errors by their cause."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from router_fakes import FakeStudent

from devkit.tiny_adapters import toy_spec
from distillery.errors import TeacherUnavailableError
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from distillery.settings import Settings
from serving.http import make_app
from serving.router import Router
from streams.teacher.completions import TeacherResult
from trainer.predict import Prediction


def Server(adapter: AdapterPublished | None) -> FakeStudent:
    return FakeStudent(adapter, rule=lambda text: Prediction("bird", 0.91))


class DownTeacher:
    async def label(self, text: str) -> TeacherResult:
        raise TeacherUnavailableError("teacher at http://t: gave up after 6 attempts")

    async def aclose(self) -> None:
        return None


def adapter() -> AdapterPublished:
    return AdapterPublished(task="toy", adapter_id="ad-3", job_id="j", uri="/x", sha256="0" * 64, base_model="b",
                            student_prompt="", metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1)),
                            router_threshold=0.5)


async def client_for(settings: Settings, server: Server) -> TestClient:
    router = Router(settings, server, teacher=lambda task: DownTeacher(), vocabulary=lambda a: None)
    client = TestClient(TestServer(make_app(router, server)))
    await client.start_server()
    return client


async def test_a_request_is_routed_and_the_adapters_are_listed(settings_factory) -> None:
    client = await client_for(settings_factory(tasks={"toy": toy_spec("toy")}), Server(adapter()))
    try:
        resp = await client.post("/v1/route", json={"task": "toy", "input": "crow 4", "event_id": "e-1"})
        assert resp.status == 200
        body = await resp.json()
        assert (body["answer"], body["route"], body["reason"], body["adapter_id"], body["event_id"]) == (
            "bird", "student", "confident", "ad-3", "e-1")
        resp = await client.get("/v1/adapters")
        assert await resp.json() == {"toy": {"serving": "ad-3", "loaded": ["ad-3"]}}
    finally:
        await client.close()


async def test_errors_answer_by_their_cause(settings_factory) -> None:
    client = await client_for(settings_factory(tasks={"toy": toy_spec("toy")}), Server(None))
    try:
        for body, status, says in (
            ("not json", 400, "body: expected a JSON object"),
            ({"task": "toy"}, 400, "task, input: both are required strings"),
            ({"task": "nope", "input": "x"}, 400, "unknown task 'nope'; declared tasks: toy"),
            ({"task": "toy", "input": " "}, 400, "input: ' ' is empty"),
            ({"task": "toy", "input": "crow 4"}, 503, "no student serves this task: teacher at http://t: gave up"),
        ):
            resp = await (client.post("/v1/route", data=body) if isinstance(body, str)
                          else client.post("/v1/route", json=body))
            assert resp.status == status, body
            error = (await resp.json())["error"]  # OpenAI's shape, as every refusal
            assert says in error["message"] and error["type"], body
    finally:
        await client.close()
