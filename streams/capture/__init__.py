"""Capture for producers: every ``openai`` chat completion becomes an ``InferenceEvent`` on Kafka.

Adopting it takes three lines::

    from streams.capture import capture
    client = capture(openai.OpenAI(), task="transactions", bootstrap_servers="kafka:9092")
    client.chat.completions.create(...)  # unchanged call; returns the same object

Emission happens on a background thread with a bounded buffer, so a slow or
down Kafka never slows or fails the call; drops are counted (``sink_of(client).stats()``)
and logged at most once per interval.
"""

from __future__ import annotations

from streams.capture.emitter import CaptureStats, KafkaEmitter, Sink
from streams.capture.extract import event_from_completion
from streams.capture.wrap import capture, sink_of

__all__ = ["CaptureStats", "KafkaEmitter", "Sink", "capture", "event_from_completion", "sink_of"]
