"""Wrap an ``openai.OpenAI`` / ``openai.AsyncOpenAI`` client so every chat completion is captured.

:func:`capture` patches the client *instance* (``chat.completions.create`` and
``parse``, plus ``copy``/``with_options`` so derived clients stay captured) and
returns the same object: type checks, IDE completion and every other method
work as before. The wrapped call returns exactly what the original returned
(awaitables stay awaitables); the capture hook runs after it, catches every
exception of its own and only appends to the emitter's bounded buffer.

Streams (``stream=True``) and raw responses (``with_raw_response``) pass
through untouched and are counted as ``skipped``, not captured.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from distillery_capture.connection import KafkaConnection
from distillery_capture.emitter import DEFAULT_MAX_QUEUE, Deployment, KafkaEmitter, Sink
from distillery_capture.errors import ConfigError
from distillery_capture.events import MAX_EVENT_BYTES, InferenceEvent, now_ms
from distillery_capture.extract import event_from_completion

log = logging.getLogger(__name__)

C = TypeVar("C")
_MARK = "__distillery_capture__"
_WRAPPED = ("create", "parse")


class _Hook:
    """Build the event of one finished call and offer it; never raises."""

    def __init__(self, sink: Sink, task: str, metadata: Mapping[str, Any] | None) -> None:
        self.sink = sink
        self.task = task
        self.metadata = dict(metadata) if metadata else None

    def __call__(self, request: Mapping[str, Any], response: Any) -> None:
        try:
            if request.get("stream"):
                self.sink.note_skipped("stream")
                return
            event = event_from_completion(response, request, task=self.task, ts_ms=now_ms(),
                                          metadata=self.metadata)
            if event is None:
                self.sink.note_skipped("not_a_completion")
                return
            self.sink.offer(event)
        except Exception as exc:  # noqa: BLE001 - a capture bug must never break the service's call
            try:
                self.sink.note_error("capture", exc)
            except Exception:  # not even a broken sink may break the call
                log.exception("capture: could not count a capture error")


async def _finish(pending: Awaitable[Any], hook: _Hook, request: Mapping[str, Any]) -> Any:
    response = await pending
    hook(request, response)
    return response


def _wrap(original: Callable[..., Any], hook: _Hook) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        response = original(*args, **kwargs)
        if inspect.isawaitable(response):  # AsyncOpenAI: hand back an awaitable, capture once it resolves
            return _finish(response, hook, kwargs)
        hook(kwargs, response)
        return response

    setattr(call, _MARK, hook.sink)
    return call


def _wrap_copy(original: Callable[..., Any], hook: _Hook) -> Callable[..., Any]:
    @functools.wraps(original)
    def copy(*args: Any, **kwargs: Any) -> Any:
        derived = original(*args, **kwargs)
        try:
            _patch(derived, hook)
        except Exception as exc:  # noqa: BLE001 - an uncaptured copy is better than a failed one
            hook.sink.note_error("copy", exc)
        return derived

    return copy


def _patch(client: Any, hook: _Hook) -> None:
    completions = client.chat.completions
    for name in _WRAPPED:
        original = getattr(completions, name, None)
        if callable(original):
            setattr(completions, name, _wrap(original, hook))
    for name in ("copy", "with_options"):
        original = getattr(client, name, None)
        if callable(original):
            setattr(client, name, _wrap_copy(original, hook))


def sink_of(client: Any) -> Sink | None:
    """The sink (normally a :class:`KafkaEmitter`) capturing ``client``, or ``None``."""
    try:
        return getattr(client.chat.completions.create, _MARK, None)
    except AttributeError:
        return None


def capture(
    client: C,
    *,
    task: str,
    bootstrap_servers: str | None = None,
    settings: Deployment | None = None,
    kafka: KafkaConnection | None = None,
    topic: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    max_queue: int = DEFAULT_MAX_QUEUE,
    producer_config: Mapping[str, Any] | None = None,
    sink: Sink | None = None,
) -> C:
    """Capture every chat completion of ``client`` as an ``InferenceEvent`` for ``task``; return ``client``.

    Kafka comes from ``kafka`` (a secured cluster: TLS, SASL, as the workers use
    it), else ``bootstrap_servers`` (a PLAINTEXT one), else ``settings.kafka``; the topic from
    ``topic`` (else ``settings.topics.inference``, else ``inference.events``).
    ``metadata`` is attached to every event. Pass ``sink`` to share one emitter
    between clients; otherwise a :class:`KafkaEmitter` is started for this one.
    """
    if not isinstance(task, str) or not 0 < len(task) <= 512:
        raise ConfigError(f"expected the task name as a non-empty string, got {task!r}", key="task")
    if settings is not None and settings.tasks and task not in settings.tasks:
        settings.task(task)  # raises, listing the declared tasks
    completions = getattr(getattr(client, "chat", None), "completions", None)
    if not callable(getattr(completions, "create", None)):
        raise ConfigError(f"expected an openai.OpenAI or AsyncOpenAI client, got {type(client).__name__}",
                          key="client")
    if sink_of(client) is not None:
        raise ConfigError("this client is already captured; call capture() once per client", key="client")
    if sink is None:
        cluster: KafkaConnection | str | None = kafka or bootstrap_servers or (settings.kafka if settings else None)
        if not cluster:
            raise ConfigError("no Kafka to send to; pass bootstrap_servers='host:9092', kafka= or settings=",
                              key="bootstrap_servers")
        sink = KafkaEmitter(
            cluster,
            topic or (settings.topics.inference if settings else InferenceEvent.topic_name),
            max_queue=max_queue,
            max_event_bytes=settings.max_event_bytes if settings else MAX_EVENT_BYTES,
            producer_config=producer_config,
        )
    _patch(client, _Hook(sink, task, metadata))
    return client
