"""Capture for producers: every ``openai`` chat completion becomes an ``InferenceEvent`` on Kafka.

Installed on its own (``pip install ./capture``: aiokafka and pydantic, openai
as the ``openai`` extra), without the rest of Distillery. Adopting it takes
three lines::

    from distillery_capture import capture
    client = capture(openai.OpenAI(), task="transactions", bootstrap_servers="kafka:9092")
    client.chat.completions.create(...)  # unchanged call; returns the same object

A secured cluster is a :class:`KafkaConnection` (TLS, SASL) passed as ``kafka=``.
Emission happens on a background thread with a bounded buffer, so a slow or
down Kafka never slows or fails the call; drops are counted (``sink_of(client).stats()``)
and logged at most once per interval.

The package also owns what it puts on the wire, once for the whole project: the
event record (:mod:`~distillery_capture.events`), the connection and security
options (:mod:`~distillery_capture.connection`, :mod:`~distillery_capture.security`,
:mod:`~distillery_capture.preflight`) and the root of Distillery's errors
(:mod:`~distillery_capture.errors`); Distillery's contract re-exports them.
"""

from __future__ import annotations

from distillery_capture.connection import KafkaConnection
from distillery_capture.emitter import CaptureStats, Deployment, KafkaEmitter, Sink
from distillery_capture.errors import BrokerAuthError, BrokerUnavailableError, ConfigError, DistilleryError
from distillery_capture.events import ChatMessage, InferenceEvent, Usage
from distillery_capture.extract import event_from_completion
from distillery_capture.wrap import capture, sink_of

__all__ = [
    "BrokerAuthError",
    "BrokerUnavailableError",
    "CaptureStats",
    "ChatMessage",
    "ConfigError",
    "Deployment",
    "DistilleryError",
    "InferenceEvent",
    "KafkaConnection",
    "KafkaEmitter",
    "Sink",
    "Usage",
    "capture",
    "event_from_completion",
    "sink_of",
]
