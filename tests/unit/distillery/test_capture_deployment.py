"""The capture SDK inside a deployment: one definition of its records, options and errors, read from Settings.

The SDK (``./capture``, :mod:`distillery_capture`) owns the inference event, the
Kafka connection options and the root error; the contract re-exports them. These
tests hold the two together: the same objects under both names, ``except
DistilleryError`` still catching the SDK's errors, the deployment's settings
giving the SDK its cluster, topic, size limit and task names, and an SDK event
passing the contract's validation.
"""

from __future__ import annotations

from typing import Any

import pytest

import distillery.errors
import distillery.events
import distillery.kafka_security
import distillery_capture
from distillery.errors import ConfigError, DistilleryError
from distillery.settings import KafkaSettings
from distillery.validation import parse_inference
from distillery_capture import KafkaEmitter, capture, sink_of
from distillery_capture.connection import KafkaConnection
from distillery_capture.extract import event_from_completion

DOWN = "127.0.0.1:1"  # nothing listens on port 1: every connect is refused at once


class FakeClient:
    """The shape of ``openai.OpenAI`` the wrapper touches: ``chat.completions.create``."""

    def __init__(self) -> None:
        completions = type("Completions", (), {"create": staticmethod(lambda **kw: None)})()
        self.chat = type("Chat", (), {"completions": completions})()


def test_the_contract_re_exports_the_sdks_definitions() -> None:
    for name in ("InferenceEvent", "ChatMessage", "Usage", "Record", "MAX_EVENT_BYTES", "now_ms", "iso_ms"):
        assert getattr(distillery.events, name) is getattr(distillery_capture.events, name), name
    for name in ("DistilleryError", "ConfigError", "BrokerAuthError", "BrokerUnavailableError"):
        assert getattr(distillery.errors, name) is getattr(distillery_capture.errors, name), name
    for name in ("client_options", "security_options", "describe", "ssl_context", "PASSWORD_ENV"):
        assert getattr(distillery.kafka_security, name) is getattr(distillery_capture.security, name), name
    assert issubclass(KafkaSettings, KafkaConnection)
    assert set(KafkaConnection.model_fields) < set(KafkaSettings.model_fields)


def test_except_distillery_error_catches_what_the_sdk_raises() -> None:
    with pytest.raises(DistilleryError, match=r"\[max_queue\]"):
        KafkaEmitter(DOWN, "t", max_queue=0)
    with pytest.raises(ConfigError, match=r"\[task\]"):
        capture(FakeClient(), task="")
    assert issubclass(distillery.errors.UnknownTaskError, DistilleryError)


def test_from_settings_uses_the_deployment_topic_and_event_limit(settings_factory) -> None:
    s = settings_factory(max_event_bytes=4096)
    s = s.with_overrides(kafka=s.kafka.model_copy(update={"bootstrap_servers": DOWN}))
    em = KafkaEmitter.from_settings(s, max_queue=7)
    try:
        assert (em.bootstrap_servers, em.topic, em.max_event_bytes, em.max_queue) == (
            DOWN, f"{s.topic_prefix}inference.events", 4096, 7)
    finally:
        em.close(0.1)
    with pytest.raises(ConfigError, match=r"\[max_queue\].*at least 1 event, got 0"):
        KafkaEmitter(DOWN, "t", max_queue=0)


def test_settings_give_the_topic_the_broker_and_the_known_tasks(settings_factory) -> None:
    s = settings_factory()
    s = s.with_overrides(kafka=s.kafka.model_copy(update={"bootstrap_servers": DOWN}))
    with pytest.raises(ConfigError, match="unknown task 'nope'; declared tasks: transactions"):
        capture(FakeClient(), task="nope", settings=s)
    emitter = sink_of(capture(FakeClient(), task="transactions", settings=s))
    plain = sink_of(capture(FakeClient(), task="transactions", bootstrap_servers=DOWN))
    try:
        assert isinstance(emitter, KafkaEmitter) and isinstance(plain, KafkaEmitter)
        assert (emitter.topic, emitter.bootstrap_servers) == (s.topics.inference, DOWN)
        assert s.topics.inference.startswith(s.topic_prefix) and s.topic_prefix
        assert plain.topic == "inference.events"
    finally:
        emitter.close(0.1)  # type: ignore[union-attr]
        plain.close(0.1)  # type: ignore[union-attr]


def test_a_captured_event_passes_the_contracts_validation() -> None:
    completion: dict[str, Any] = {
        "id": "chatcmpl-1", "model": "gpt-4.1-mini-2025-04-14",
        "choices": [{"message": {"role": "assistant", "content": "coffee_shops"}}],
        "usage": {"prompt_tokens": 31, "completion_tokens": 4},
    }
    request = {"model": "gpt-4.1-mini", "messages": [
        {"role": "system", "content": "Classify the transaction."},
        {"role": "user", "content": [{"type": "text", "text": "STARBUCKS #1234"},
                                     {"type": "image_url", "image_url": {"url": "data:,"}}]},
    ]}
    ev = event_from_completion(completion, request, task="transactions", ts_ms=1_700_000_000_123,
                               metadata={"service": "ledger", "region": "eu"})
    assert ev is not None
    parsed = parse_inference(ev.to_json(), tasks={"transactions"})
    assert parsed.ok and parsed.event == ev
