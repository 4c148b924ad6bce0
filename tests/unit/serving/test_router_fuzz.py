"""The router's HTTP front fed hostile ``/v1/route`` and ``/v1/chat/completions`` requests (issue #13).

Bodies generated from the shapes each route documents (``hostile_strategies``:
huge and deeply nested values, every Unicode category, wrong types, missing and
extra fields, foreign JSON, non-JSON and non-UTF-8 bytes, bodies past the cap),
with hostile headers (wrong, missing or odd keys, charsets, event ids), go to the
replica's own aiohttp app (guard, router, OpenAI front) through aiohttp's test
client. A fake student serves one task; the other has no adapter, so every
request of it goes to a fake teacher that is down for some inputs. Properties:

* every answer is JSON (or, for a 200 stream, server-sent JSON chunks) with a
  status under 500, except 503 when the teacher cannot answer and no student can;
* every refusal is in OpenAI's error shape (``/v1/route``'s own 400s and 503s carried
  ``{"error": "message"}`` before, unlike the guard's refusals and its own input cap);
* the teacher is never called for a refused request, and called exactly once
  for a request it answers or fails.

Thousands of examples in the suite (1,000-2,000 a consumer); ``FUZZ_EXAMPLES`` for the long run (``make fuzz``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import zlib
from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hostile_strategies import FUZZ_EXAMPLES, fuzz_profile, message_values, run_fuzz, strings, valid_strings
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from router_fakes import FakeStudent, Sink

from devkit.tiny_adapters import toy_spec
from distillery.errors import TeacherUnavailableError
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from distillery.settings import HttpSettings
from distillery.webguard import Guard
from serving.http import make_app
from serving.openai_api import EVENT_ID_HEADER
from serving.router import Router
from streams.teacher.completions import TeacherResult
from trainer.predict import Prediction

PROFILE = fuzz_profile("router", 2_000)
KEY = "router-fuzz-key-0123456789abcdef"
MAX_BODY = 65_536
MAX_INPUT = 4_096


class OneTaskStudent(FakeStudent):
    """Serves ``toy`` only (sure of texts with "crow" in them); ``bare`` has no adapter."""

    def served(self, task: str) -> AdapterPublished | None:
        return self.adapter if task == "toy" else None

    def predict_served(self, task: str, texts: Sequence[str]) -> tuple[AdapterPublished | None, list[Prediction]]:
        return self.served(task), [self.rule(t) for t in texts]


def down(text: str) -> bool:
    return "down" in text or zlib.crc32(text.encode("utf-8", "surrogatepass")) % 4 == 0


class FuzzTeacher:
    """Labels and forwards; unavailable for a quarter of the inputs and those saying "down"; counts every call."""

    def __init__(self) -> None:
        self.calls = 0

    def _answer(self, text: str) -> TeacherResult:
        self.calls += 1
        if down(text):
            raise TeacherUnavailableError("teacher at http://fake: gave up after 3 attempts")
        return TeacherResult(text="fruit", label="fruit", confidence=0.9, prompt_tokens=5, completion_tokens=1,
                             cost_usd=0.0001, model="gpt-4.1")

    async def label(self, text: str) -> TeacherResult:
        return self._answer(text)

    async def forward(self, body: dict[str, Any]) -> tuple[dict[str, Any], TeacherResult]:
        texts = [m.get("content") for m in body.get("messages", []) if isinstance(m, dict)]
        result = self._answer(json.dumps(texts, default=str))
        completion = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4.1",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": "fruit"},
                                   "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}
        return completion, result

    async def aclose(self) -> None:
        return None


TASKS = ["toy", "bare"]
ROUTE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["task", "input"],
    "properties": {"task": {"type": "string"}, "input": {"type": "string", "minLength": 1},
                   "event_id": {"type": "string", "minLength": 1, "maxLength": 512}}}
CHAT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["model", "messages"],
    "properties": {"model": {"type": "string"}, "messages": {"type": "array", "minItems": 1,
                                                             "items": {"$ref": "#/$defs/Message"}},
                   "stream": {"type": "boolean"}, "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                   "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}}},
    "$defs": {"Message": {"type": "object", "required": ["role", "content"],
                          "properties": {"role": {"enum": ["user", "system", "assistant"]},
                                         "content": {"anyOf": [{"type": "string", "minLength": 1},
                                                               {"type": "array", "items": {"$ref": "#/$defs/Part"}}]}}},
              "Part": {"type": "object", "required": ["type"],
                       "properties": {"type": {"enum": ["text", "image_url"]}, "text": {"type": "string"}}}}}
INPUTS = st.one_of(st.sampled_from(["crow 4", "pear 7", "pear down 7", "crow " + "x" * MAX_INPUT]), valid_strings(1, MAX_INPUT + 10))
ROUTE = message_values(ROUTE_SCHEMA, overrides={"task": st.one_of(st.sampled_from(TASKS), strings(0, 32))},
                       valid_overrides={"task": st.sampled_from(TASKS), "input": INPUTS,
                                        "event_id": st.one_of(valid_strings(1, 600), st.uuids().map(str))})
CHAT = message_values(CHAT_SCHEMA, overrides={"model": st.one_of(st.sampled_from(["distillery:toy", "distillery:bare"]),
                                                                 strings(0, 32))},
                      valid_overrides={"model": st.sampled_from(["distillery:toy", "distillery:bare"]),
                                       "content": st.one_of(INPUTS, st.lists(st.fixed_dictionaries(
                                           {"type": st.just("text"), "text": INPUTS}), min_size=1, max_size=2))})
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=600)
AUTH = st.integers(0, 9).flatmap(lambda r: st.just(f"Bearer {KEY}") if r < 8 else st.one_of(
    st.none(), st.sampled_from(["Bearer wrong", "Basic !!!", f"Bearer {KEY}x", f"bearer   {KEY}  ", f"Token {KEY}",
                                "Bearer ", "Basic " + "A" * 5000]), HEADER_TEXT.map(lambda t: "Bearer " + t)))
CTYPE = st.sampled_from([None, "application/json", "application/json", "text/plain",
                         "application/json; charset=utf-16", "application/json; charset=nope",
                         "application/json; charset=latin-1", "multipart/form-data; boundary=x"])
REQUESTS = st.tuples(st.sampled_from(["/v1/route", "/v1/chat/completions"]), st.data(), AUTH, CTYPE,
                     st.one_of(st.none(), HEADER_TEXT))


class Harness:
    def __init__(self, settings_factory: Any) -> None:
        http = HttpSettings(max_input_chars=MAX_INPUT, max_body_bytes=MAX_BODY, rate_per_s=1e6, burst=10**7)
        self.settings = settings_factory(tasks={"toy": toy_spec("toy"), "bare": toy_spec("bare")},
                                         api_keys=(SecretStr(KEY),), http=http)
        served = AdapterPublished(task="toy", adapter_id="ad-1", job_id="j", uri="/x", sha256="0" * 64,
                                  base_model="b", student_prompt="", router_threshold=0.5,
                                  metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1)))
        self.student = OneTaskStudent(served)
        self.teacher = FuzzTeacher()
        self.sink = Sink()
        self.router = Router(self.settings, self.student, self.sink, teacher=lambda task: self.teacher,
                             vocabulary=lambda a: None)
        guard = Guard.from_settings(self.settings, "router", clock=lambda: 0.0)
        self.loop = asyncio.new_event_loop()

        async def start() -> TestClient:
            client = TestClient(TestServer(make_app(self.router, self.student, guard=guard)))
            await client.start_server()
            return client

        self.client = self.loop.run_until_complete(start())
        self.figures: collections.Counter[str] = collections.Counter()

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.run_until_complete(self.router.aclose())
        self.loop.close()

    async def send(self, path: str, body: bytes | None, auth: str | None, ctype: str | None,
                   event_id: str | None) -> tuple[int, str, bytes]:
        headers = {}
        if auth is not None:
            headers["Authorization"] = auth
        if ctype is not None:
            headers["Content-Type"] = ctype
        if event_id is not None:
            headers[EVENT_ID_HEADER] = event_id
        async with self.client.post(path, data=body or b"", headers=headers) as resp:
            return resp.status, resp.content_type, await resp.read()

    def run(self, path: str, body: bytes | None, auth: str | None, ctype: str | None, event_id: str | None) -> None:
        before = self.teacher.calls
        status, ctype_out, raw = self.loop.run_until_complete(self.send(path, body, auth, ctype, event_id))
        calls = self.teacher.calls - before
        what = f"{path} {status} body={(body or b'')[:200]!r} ctype={ctype} -> {raw[:300]!r}"
        if status == 200 and ctype_out == "text/event-stream":
            chunks = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
            assert chunks[-1] == "[DONE]", what
            docs = [json.loads(c) for c in chunks[:-1]]
            assert docs and all(d["object"] == "chat.completion.chunk" for d in docs), what
            doc: Any = docs[0]
        else:
            assert ctype_out == "application/json", what
            doc = json.loads(raw)
        self.figures[f"{path} {status}"] += 1
        assert status < 500 or status == 503, what
        if status != 200:
            error = doc.get("error") if isinstance(doc, dict) else None
            assert isinstance(error, dict) and isinstance(error.get("message"), str) and error.get("type"), what
        if status == 503:
            assert "teacher" in json.dumps(doc) and calls == 1, what
        elif status == 200:
            route = doc["route"] if path == "/v1/route" else doc["distillery"]["route"]
            reason = doc["reason"] if path == "/v1/route" else doc["distillery"]["reason"]
            assert calls == (0 if route == "student" and reason == "confident" else 1), what
            self.figures[f"route:{route}:{reason}"] += 1
        else:
            assert calls == 0, f"the teacher was called for a refused request: {what}"
        self.figures["examples"] += 1
        self.figures["events"] += len(self.sink.events)
        self.sink.events.clear()  # a long run: keep memory flat


@pytest.mark.timeout(0 if FUZZ_EXAMPLES else 900)  # a hang guard sized for the suite's examples
def test_hostile_requests_get_a_json_answer_under_500_and_never_reach_the_teacher(settings_factory: Any) -> None:
    harness = Harness(settings_factory)

    @PROFILE
    @given(request=REQUESTS)
    def one_request(request: tuple[str, st.DataObject, str | None, str | None, str | None]) -> None:
        path, data, auth, ctype, event_id = request
        body = data.draw(ROUTE if path == "/v1/route" else CHAT)
        if body is not None and data.draw(st.integers(0, 19)) == 0:
            body += b" " * MAX_BODY  # past the body cap
        harness.run(path, body, auth, ctype, event_id)

    try:
        run_fuzz(one_request)
    finally:
        harness.close()
        print("\nfuzz router:", json.dumps(dict(sorted(harness.figures.items()))))
    statuses = {k.split()[-1] for k in harness.figures if k.startswith("/v1/")}
    assert {"200", "400", "401", "413", "503"} <= statuses, statuses
    assert harness.figures["events"] > 0  # answers became inference events


@pytest.mark.parametrize("path", ["/v1/route", "/v1/chat/completions"])
@pytest.mark.parametrize(("ctype", "body"), [
    ("application/json; charset=nope", b'{"task":"toy","input":"crow 4"}'),  # LookupError: was a 500
    ("application/json", b"[" * 5000 + b"]" * 5000),  # RecursionError: was a 500
])
def test_a_body_in_no_known_charset_or_nested_past_the_parser_is_a_400(
        settings_factory: Any, path: str, ctype: str, body: bytes) -> None:
    """Found by the fuzzer: both escaped the handlers' ``request.json()`` and answered 500 in plain text."""
    harness = Harness(settings_factory)
    try:
        status, ctype_out, raw = harness.loop.run_until_complete(harness.send(path, body, f"Bearer {KEY}", ctype, None))
    finally:
        harness.close()
    assert (status, ctype_out) == (400, "application/json")
    error = json.loads(raw)["error"]
    assert "body: expected a JSON object" in error["message"] and error["code"] == "invalid_json"
    assert harness.teacher.calls == 0


@pytest.mark.parametrize("path, body", [
    ("/v1/route", b'{"task":"toy","input":"crow \\ud800 4"}'),
    ("/v1/route", b'{"task":"toy","input":"crow 4","event_id":"e-\\udfff"}'),
    ("/v1/chat/completions", b'{"model":"distillery:toy","messages":[{"role":"user","content":"crow \\ud800"}]}'),
])
def test_a_lone_surrogate_is_a_400_before_anyone_answers(settings_factory: Any, path: str, body: bytes) -> None:
    """Found by the 100k fuzz run: JSON carries ``\\ud800`` but the inference event cannot (was a 500 after
    the teacher failed and the student answered)."""
    harness = Harness(settings_factory)
    try:
        status, ctype_out, raw = harness.loop.run_until_complete(
            harness.send(path, body, f"Bearer {KEY}", "application/json", None))
    finally:
        harness.close()
    assert (status, ctype_out) == (400, "application/json"), raw[:300]
    error = json.loads(raw)["error"]
    assert "lone UTF-16 surrogate" in error["message"] and "send valid Unicode" in error["message"]
    assert harness.teacher.calls == 0
