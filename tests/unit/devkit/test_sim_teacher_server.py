"""The OpenAI-compatible simulated server, driven by the real openai client."""

from __future__ import annotations

import json
import math

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from devkit.sim.teacher_model import SimTeacher
from devkit.sim.teacher_server import SimTeacherServer, parse_multipart
from devkit.sim.wire import Reply


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": "Classify."}, {"role": "user", "content": f"<input>{json.dumps(text)}</input>"}]


async def test_chat_completion_with_logprobs() -> None:
    teacher = SimTeacher(seed=0)
    async with SimTeacherServer(teacher) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        c = await client.chat.completions.create(model="m", messages=user("SHELL OIL 57444 PORTLAND OR"),
                                                 logprobs=True, top_logprobs=3)
        plain = await client.chat.completions.create(model="m", messages=user("SHELL OIL 57444 PORTLAND OR"))
        await client.close()
    answer = teacher.answer("SHELL OIL 57444 PORTLAND OR")
    assert c.choices[0].message.content == answer.label == "fuel"
    assert c.model == "m" and c.usage is not None and c.usage.completion_tokens == 1
    logprobs = c.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    first = logprobs.content[0]
    assert math.exp(first.logprob) == pytest.approx(answer.confidence)
    assert [t.token for t in first.top_logprobs] == ["fuel", "ev", "auto"]
    assert plain.choices[0].logprobs is None


async def test_responder_override_and_recording() -> None:
    seen: list[str] = []

    def responder(text: str, body: dict) -> Reply:  # type: ignore[type-arg]
        seen.append(text)
        return Reply('{"merchant": "X"}', 0.5)

    async with SimTeacherServer(responder=responder) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        c = await client.chat.completions.create(model="m", messages=user("PAID 4.10 <b>"))
        await client.close()
    assert c.choices[0].message.content == '{"merchant": "X"}'
    assert seen == ["PAID 4.10 <b>"]
    assert server.count("/v1/chat/completions") == 1 and "PAID 4.10" in server.received_text()


async def test_bad_body_is_a_400() -> None:
    async with SimTeacherServer() as server:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.base_url}/chat/completions", data=b"{nope") as resp:
                assert resp.status == 400
                body = await resp.json()
    assert body["error"]["message"].startswith("bad request body:")


async def test_faults_reach_the_client_as_openai_errors() -> None:
    async with SimTeacherServer() as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        server.faults.rate_limit(1, retry_after_s=2)
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(model="m", messages=user("x"))
        assert info.value.response.headers["retry-after"] == "2"
        server.faults.server_error(1, status=503)
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=user("x"))
        server.faults.down_for(60)
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=user("x"))
        assert server.faults.injected == {"rate_limit": 1, "server_error": 1, "down": 1}
        await client.close()


async def test_files_and_batches() -> None:
    async with SimTeacherServer(batch_delay_s=0.0) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "m", "messages": user("NETFLIX.COM")}}
        data = (json.dumps(line) + "\nnot json\n").encode()
        f = await client.files.create(file=("in.jsonl", data, "application/jsonl"), purpose="batch")
        assert (f.filename, f.bytes, f.purpose) == ("in.jsonl", len(data), "batch")
        assert (await client.files.content(f.id)).content == data
        b = await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
        done = await client.batches.retrieve(b.id)
        assert done.status == "completed" and done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (2, 1, 1)
        out = [json.loads(x) for x in (await client.files.content(done.output_file_id or "")).text.splitlines()]
        assert out[0]["custom_id"] == "a" and out[0]["response"]["status_code"] == 200
        assert out[0]["response"]["body"]["choices"][0]["message"]["content"] == "streaming_services"
        errors = (await client.files.content(done.error_file_id or "")).text
        assert "line 2" in errors
        with pytest.raises(openai.NotFoundError):
            await client.batches.create(input_file_id="file-missing", endpoint="/v1/chat/completions",
                                        completion_window="24h")
        with pytest.raises(openai.NotFoundError):
            await client.batches.retrieve("batch_missing")
        await client.close()


def test_run_in_thread_serves_a_sync_client() -> None:
    server = SimTeacherServer()
    with server.run_in_thread() as running:
        client = openai.OpenAI(base_url=running.base_url, api_key="k", max_retries=0)
        c = client.chat.completions.create(model="m", messages=user("KROGER #12 AUSTIN TX"))
        client.close()
    assert c.choices[0].message.content == "groceries"
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url


def test_parse_multipart() -> None:
    raw = (b"--XX\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
           b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n"
           b"Content-Type: application/jsonl\r\n\r\n{\"x\": 1}\n\r\n--XX--\r\n")
    assert parse_multipart("multipart/form-data; boundary=XX", raw) == {
        "purpose": "batch", "file": ("a.jsonl", b'{"x": 1}\n')}
