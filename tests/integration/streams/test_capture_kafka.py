"""Capture on the real broker: N completions become N valid InferenceEvents on the topic."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.completion_usage import CompletionUsage

from distillery.kafka import read_topic
from distillery.validation import parse_inference
from distillery_capture import CaptureStats, KafkaEmitter, capture, sink_of

N = 25


def completion(i: int) -> ChatCompletion:
    return ChatCompletion(
        id=f"chatcmpl-cap-{i}", object="chat.completion", created=1_700_000_000, model="gpt-4.1-mini",
        choices=[Choice(index=0, finish_reason="stop",
                        message=ChatCompletionMessage(role="assistant", content=f"label_{i % 5}"))],
        usage=CompletionUsage(prompt_tokens=20 + i, completion_tokens=3, total_tokens=23 + i),
    )


class Completions:
    def create(self, **kwargs: Any) -> ChatCompletion:
        return completion(int(kwargs["messages"][-1]["content"].split()[-1]))


class AsyncCompletions:
    async def create(self, **kwargs: Any) -> ChatCompletion:
        return completion(int(kwargs["messages"][-1]["content"].split()[-1]))


class FakeClient:
    def __init__(self, completions: Any) -> None:
        self.chat = type("Chat", (), {"completions": completions})()


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Classify."}, {"role": "user", "content": f"SHELL OIL AUSTIN TX {i}"}]


def test_sync_completions_arrive_as_valid_events(kafka_settings) -> None:
    s = kafka_settings()
    client = capture(FakeClient(Completions()), task="transactions", settings=s, metadata={"service": "ledger"})
    for i in range(N):
        assert client.chat.completions.create(model="gpt-4.1-mini", messages=_messages(i)).id == f"chatcmpl-cap-{i}"
    emitter = sink_of(client)
    assert isinstance(emitter, KafkaEmitter)
    assert emitter.close(30.0) == CaptureStats(emitted=N)

    records = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.inference, expect=N, timeout_s=30))
    assert len(records) == N
    events = []
    for r in records:
        parsed = parse_inference(r.value, tasks=set(s.tasks))
        assert parsed.ok, parsed.problems
        assert r.key == b"transactions"
        events.append(parsed.event)
    by_id = {e.event_id: e for e in events if e is not None}
    assert sorted(by_id) == sorted(f"chatcmpl-cap-{i}" for i in range(N))
    e7 = by_id["chatcmpl-cap-7"]
    assert (e7.output, e7.model, e7.metadata, e7.input_text()) == (
        "label_2", "gpt-4.1-mini", {"service": "ledger"}, "system: Classify.\nuser: SHELL OIL AUSTIN TX 7")
    assert e7.usage is not None and (e7.usage.prompt_tokens, e7.usage.completion_tokens) == (27, 3)


async def test_async_client_with_only_bootstrap_and_topic_and_an_oversized_event(kafka_settings) -> None:
    s = await asyncio.to_thread(kafka_settings)
    emitter = KafkaEmitter(s.kafka.bootstrap_servers, s.topics.inference, max_event_bytes=2048)
    client = capture(FakeClient(AsyncCompletions()), task="transactions", sink=emitter)
    for i in range(N):
        await client.chat.completions.create(model="gpt-4.1-mini", messages=_messages(i))
    big = [{"role": "user", "content": "x" * 4096 + f" {N}"}]
    assert (await client.chat.completions.create(model="gpt-4.1-mini", messages=big)).id == f"chatcmpl-cap-{N}"
    stats = await asyncio.to_thread(emitter.close, 30.0)
    assert stats == CaptureStats(emitted=N, dropped_error=1)

    records = await read_topic(s.kafka.bootstrap_servers, s.topics.inference, timeout_s=30, idle_s=1.0)
    ids = sorted(p.event.event_id for r in records if (p := parse_inference(r.value)).event is not None)
    assert ids == sorted(f"chatcmpl-cap-{i}" for i in range(N))


class Forwarder:
    """A TCP forwarder to the broker, started late: Kafka that is down at first, then comes up."""

    def __init__(self, port: int, target: str) -> None:
        self.port = port
        self.host, tport = target.rsplit(":", 1)
        self.tport = int(tport)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        finally:
            w.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection(self.host, self.tport)
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w), return_exceptions=True)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(asyncio.start_server(self._handle, "127.0.0.1", self.port),
                                         self.loop).result(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_events_buffered_while_kafka_is_down_are_sent_once_it_is_up(kafka_settings) -> None:
    s = kafka_settings()
    port = _free_port()
    emitter = KafkaEmitter(f"127.0.0.1:{port}", s.topics.inference, backoff_s=(0.2, 0.2))
    client = capture(FakeClient(Completions()), task="transactions", sink=emitter)
    for i in range(5):
        client.chat.completions.create(model="gpt-4.1-mini", messages=_messages(i))
    assert emitter.flush(1.0) is False
    assert emitter.stats() == CaptureStats(pending=5)  # nothing lost while down: it waits in the buffer
    forwarder = Forwarder(port, s.kafka.bootstrap_servers)
    forwarder.start()
    try:
        assert emitter.flush(30.0) is True
        assert emitter.stats() == CaptureStats(emitted=5, connected=True)
    finally:
        emitter.close(10.0)
        forwarder.stop()
    records = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.inference, expect=5, timeout_s=30))
    assert sorted(parse_inference(r.value).event.event_id for r in records) == [  # type: ignore[union-attr]
        f"chatcmpl-cap-{i}" for i in range(5)]
