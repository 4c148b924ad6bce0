"""The wrapped client: same response object, never slowed or failed by Kafka, drops counted."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.completion_usage import CompletionUsage

from distillery_capture import ConfigError, InferenceEvent, KafkaEmitter, capture, sink_of
from distillery_capture.events import Record

DOWN = "127.0.0.1:1"  # nothing listens on port 1: every connect is refused at once
MESSAGES = [{"role": "user", "content": "STARBUCKS #1234 SEATTLE WA"}]


def completion(i: int) -> ChatCompletion:
    return ChatCompletion(
        id=f"chatcmpl-{i}", object="chat.completion", created=1_700_000_000, model="gpt-4.1-mini",
        choices=[Choice(index=0, finish_reason="stop",
                        message=ChatCompletionMessage(role="assistant", content=f"label-{i}"))],
        usage=CompletionUsage(prompt_tokens=10, completion_tokens=2, total_tokens=12),
    )


class Completions:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def create(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if kwargs.get("model") == "boom":
            raise openai.APIConnectionError(request=httpx2.Request("POST", "http://x"))
        return kwargs.pop("_response", None) or completion(len(self.calls))


class AsyncCompletions(Completions):
    async def create(self, **kwargs: Any) -> Any:  # type: ignore[override]
        return Completions.create(self, **kwargs)


class Chat:
    def __init__(self, completions: Completions) -> None:
        self.completions = completions


class FakeClient:
    """The shape of ``openai.OpenAI`` the wrapper touches: ``chat.completions.create``."""

    def __init__(self, completions: Completions | None = None) -> None:
        self.chat = Chat(completions or Completions())


class ListSink:
    def __init__(self) -> None:
        self.events: list[Record] = []
        self.skipped: list[str] = []
        self.errors: list[str] = []

    def offer(self, record: Record) -> bool:
        self.events.append(record)
        return True

    def note_skipped(self, reason: str) -> None:
        self.skipped.append(reason)

    def note_error(self, what: str, exc: BaseException) -> None:
        self.errors.append(f"{what}: {type(exc).__name__}")


def test_sync_call_returns_the_original_object_and_offers_its_event() -> None:
    sink = ListSink()
    fake = FakeClient()
    before = int(time.time() * 1000)
    client = capture(fake, task="transactions", sink=sink, metadata={"service": "ledger"})
    resp = completion(7)
    out = client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES, _response=resp)
    assert client is fake and out is resp
    [ev] = sink.events
    assert isinstance(ev, InferenceEvent)
    assert (ev.event_id, ev.task, ev.output, ev.model, ev.metadata) == (
        "chatcmpl-7", "transactions", "label-7", "gpt-4.1-mini", {"service": "ledger"})
    assert before <= ev.ts_ms() <= int(time.time() * 1000)  # type: ignore[operator]
    assert sink.skipped == [] and sink.errors == []


async def test_async_call_stays_awaitable_and_is_captured_when_it_resolves() -> None:
    sink = ListSink()
    client = capture(FakeClient(AsyncCompletions()), task="transactions", sink=sink)
    resp = completion(3)
    pending = client.chat.completions.create(model="m", messages=MESSAGES, _response=resp)
    assert sink.events == []  # nothing happened yet: the call has not run
    assert await pending is resp
    assert [e.event_id for e in sink.events] == ["chatcmpl-3"]  # type: ignore[attr-defined]


def test_streams_pass_through_untouched_and_are_counted_skipped() -> None:
    sink = ListSink()
    client = capture(FakeClient(), task="t", sink=sink)
    stream = object()
    assert client.chat.completions.create(model="m", messages=MESSAGES, stream=True, _response=stream) is stream
    assert sink.events == [] and sink.skipped == ["stream"]


def test_a_capture_bug_never_breaks_the_call_and_is_counted() -> None:
    class Weird:
        @property
        def choices(self) -> list[Any]:
            raise RuntimeError("bug in capture")

    sink = ListSink()
    client = capture(FakeClient(), task="t", sink=sink)
    weird = Weird()
    assert client.chat.completions.create(model="m", messages=MESSAGES, _response=weird) is weird
    assert client.chat.completions.create(model="m", messages=[], _response=completion(1)).id == "chatcmpl-1"
    assert sink.errors == ["capture: RuntimeError", "capture: ValidationError"] and sink.events == []


def test_the_service_errors_propagate_unchanged_and_nothing_is_captured() -> None:
    sink = ListSink()
    client = capture(FakeClient(), task="t", sink=sink)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="boom", messages=MESSAGES)
    assert (sink.events, sink.skipped, sink.errors) == ([], [], [])


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A port that accepts connections and never answers: a hung Kafka."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("broker", ["down", "silent"])
def test_kafka_down_or_hung_and_buffer_full_never_slow_the_call(broker: str, silent_broker: str) -> None:
    servers = DOWN if broker == "down" else silent_broker
    client = capture(FakeClient(), task="transactions", bootstrap_servers=servers, max_queue=5)
    emitter = sink_of(client)
    assert isinstance(emitter, KafkaEmitter)
    try:
        took = []
        for _ in range(50):
            t0 = time.perf_counter()
            client.chat.completions.create(model="m", messages=MESSAGES)
            took.append(time.perf_counter() - t0)
        took.sort()
        # a call that waited on Kafka would take the connect timeout (seconds); the margins absorb a
        # loaded CI machine (GC pauses, descheduling), not any waiting on the broker
        assert took[25] < 0.005 and took[-1] < 0.25, f"median {took[25] * 1e3:.2f} ms, max {took[-1] * 1e3:.1f} ms"
        s = emitter.stats()
        assert (s.emitted, s.dropped_full, s.dropped_error, s.pending, s.connected) == (0, 45, 0, 5, False)
    finally:
        t0 = time.perf_counter()
        s = emitter.close(timeout_s=0.3)
    assert time.perf_counter() - t0 < 2.0
    assert (s.emitted, s.dropped_full, s.dropped_error, s.pending) == (0, 45, 5, 0)
    client.chat.completions.create(model="m", messages=MESSAGES)  # after close: still served, counted
    assert emitter.stats().dropped_error == 6


def test_configuration_errors_are_raised_at_capture_time() -> None:
    with pytest.raises(ConfigError, match="bootstrap_servers"):
        capture(FakeClient(), task="t")
    with pytest.raises(ConfigError, match=r"\[task\].*non-empty string, got ''"):
        capture(FakeClient(), task="", sink=ListSink())
    with pytest.raises(ConfigError, match="got object"):
        capture(object(), task="t", sink=ListSink())
    client = capture(FakeClient(), task="t", sink=ListSink())
    with pytest.raises(ConfigError, match="already captured"):
        capture(client, task="t", sink=ListSink())


# ------------------------------------------------------------ the real client
def _handler(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content)
    if body.get("stream"):
        chunk = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}]}
        sse = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
        return httpx2.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, json=completion(42).model_dump(mode="json"))


def test_real_openai_client_copies_and_streams() -> None:
    sink = ListSink()
    raw = openai.OpenAI(api_key="k", base_url="http://llm.invalid/v1",
                        http_client=httpx2.Client(transport=httpx2.MockTransport(_handler)))
    client = capture(raw, task="transactions", sink=sink)
    assert client is raw and isinstance(client, openai.OpenAI)
    out = client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert type(out) is ChatCompletion and out.id == "chatcmpl-42"
    derived = client.with_options(timeout=3.0)
    assert sink_of(derived) is sink
    derived.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)  # type: ignore[arg-type]
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    assert isinstance(stream, openai.Stream)
    assert [c.choices[0].delta.content for c in stream] == ["hi"]
    assert [e.event_id for e in sink.events] == ["chatcmpl-42", "chatcmpl-42"]  # type: ignore[attr-defined]
    assert sink.skipped == ["stream"] and sink.errors == []


async def test_real_async_openai_client() -> None:
    sink = ListSink()
    raw = openai.AsyncOpenAI(api_key="k", base_url="http://llm.invalid/v1",
                             http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(_handler)))
    client = capture(raw, task="transactions", sink=sink)
    out = await client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert type(out) is ChatCompletion and out.choices[0].message.content == "label-42"
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    assert isinstance(stream, openai.AsyncStream)
    assert [c.choices[0].delta.content async for c in stream] == ["hi"]
    assert len(sink.events) == 1 and sink.skipped == ["stream"]
    await client.close()
