"""Background Kafka emission with a bounded buffer: the service's call never waits on Kafka.

:meth:`KafkaEmitter.offer` appends to an in-memory buffer and returns; a daemon
thread running its own asyncio loop drains it into an aiokafka producer. When
the buffer is full the new event is dropped and counted; when the broker is
down the thread keeps reconnecting with backoff while the buffer absorbs what
it can. Every event offered ends in exactly one counter::

    offered = emitted + dropped_full + dropped_error + pending

(``skipped`` counts calls that were not captured at all, such as streams.)
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from distillery_capture.connection import KafkaConnection
from distillery_capture.errors import BrokerAuthError, ConfigError
from distillery_capture.events import MAX_EVENT_BYTES, Record
from distillery_capture.preflight import preflight
from distillery_capture.ratelog import Throttled
from distillery_capture.security import client_options

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUE = 10_000


@dataclass(frozen=True)
class CaptureStats:
    """What became of the events offered so far."""

    emitted: int = 0
    dropped_full: int = 0
    dropped_error: int = 0
    pending: int = 0
    skipped: int = 0
    connected: bool = False


class Sink(Protocol):
    """Where the capture hook hands events; :class:`KafkaEmitter` is the real one."""

    def offer(self, record: Record) -> bool: ...

    def note_skipped(self, reason: str) -> None: ...

    def note_error(self, what: str, exc: BaseException) -> None: ...


class _Topics(Protocol):
    @property
    def inference(self) -> str: ...


class Deployment(Protocol):
    """What capture reads of a deployment's settings; Distillery's ``Settings`` is one.

    The SDK takes plain connection options (:class:`KafkaConnection`, or a bare
    ``host:port``); a service that runs inside a Distillery deployment may pass its
    settings instead, for the cluster, the topic, the size limit and the task names.
    """

    @property
    def kafka(self) -> KafkaConnection: ...

    @property
    def topics(self) -> _Topics: ...

    @property
    def max_event_bytes(self) -> int: ...

    @property
    def tasks(self) -> Mapping[str, Any]: ...

    def task(self, name: str) -> Any: ...


async def _stop_quietly(producer: AIOKafkaProducer, timeout_s: float) -> None:
    """Stop a producer that may be half-started or broken; its failure must not hide the caller's."""
    try:
        await asyncio.wait_for(producer.stop(), timeout_s)
    except Exception:  # noqa: BLE001 - nothing useful to do about a producer that will not stop
        pass


class KafkaEmitter:
    """Produce records to one topic from a background thread, keyed by task.

    ``kafka`` is a ``host:port,...`` string (PLAINTEXT) or a
    :class:`~distillery_capture.connection.KafkaConnection` (Distillery's ``[kafka]``
    settings are one), whose security settings (TLS, SASL) are applied by
    :func:`distillery_capture.security.client_options`, as in
    every worker. ``producer_config`` is passed to :class:`aiokafka.AIOKafkaProducer`
    over the defaults (acks=all, idempotent, 20 ms linger).
    """

    def __init__(
        self,
        kafka: str | KafkaConnection,
        topic: str,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        max_event_bytes: int = MAX_EVENT_BYTES,
        producer_config: Mapping[str, Any] | None = None,
        connect_timeout_s: float = 10.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        log_every_s: float = 10.0,
    ) -> None:
        if max_queue < 1:
            raise ConfigError(f"expected a buffer of at least 1 event, got {max_queue}", key="max_queue")
        options = client_options(kafka)
        self._cluster = kafka
        self.bootstrap_servers: str = options["bootstrap_servers"]
        self.topic = topic
        self.max_queue = max_queue
        self.max_event_bytes = max_event_bytes
        self._producer_config = {
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 20,
            "client_id": "distillery-capture",
            **dict(producer_config or {}),
            **options,
        }
        self._connect_timeout_s = connect_timeout_s
        self._backoff_s = backoff_s
        self._warn = Throttled(log, every_s=log_every_s)
        self._cond = threading.Condition()
        self._buf: collections.deque[Record] = collections.deque()
        self._inflight = 0
        self._counts = {"emitted": 0, "dropped_full": 0, "dropped_error": 0, "skipped": 0}
        self._connected = False
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._futs: set[asyncio.Future[Any]] = set()
        self._thread = threading.Thread(target=self._run, name="distillery-capture", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    @classmethod
    def from_settings(cls, settings: Deployment, **kwargs: Any) -> KafkaEmitter:
        """An emitter to the deployment's ``inference.events`` topic."""
        kwargs.setdefault("max_event_bytes", settings.max_event_bytes)
        return cls(settings.kafka, settings.topics.inference, **kwargs)

    # ------------------------------------------------------------ caller side
    def offer(self, record: Record) -> bool:
        """Queue ``record`` without blocking; ``False`` (counted, logged) when it is dropped."""
        with self._cond:
            if self._closing:
                self._counts["dropped_error"] += 1
                reason = "closed"
            elif len(self._buf) >= self.max_queue:
                self._counts["dropped_full"] += 1
                reason = "full"
            else:
                self._buf.append(record)
                reason = ""
                first = len(self._buf) == 1
        if reason == "closed":
            self._warn("closed", "capture: event dropped, the emitter is closed")
            return False
        if reason == "full":
            self._warn("full", "capture: buffer full (%d events), event dropped; Kafka at %s is slow or down",
                       self.max_queue, self.bootstrap_servers)
            return False
        if first:
            self._poke()
        return True

    def _poke(self) -> None:
        """Wake the emitter loop from any thread (a no-op once its loop is gone)."""
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:
            pass  # the loop is closed: the thread has ended and counted what it held

    def note_skipped(self, reason: str) -> None:
        """Count a call that was deliberately not captured (a stream, a raw response)."""
        with self._cond:
            self._counts["skipped"] += 1

    def note_error(self, what: str, exc: BaseException) -> None:
        """Count an event lost to an error (a capture bug, a failed send) and log it, throttled."""
        with self._cond:
            self._counts["dropped_error"] += 1
            self._cond.notify_all()
        self._warn(f"error:{what}", "capture: event lost (%s): %s: %s", what, type(exc).__name__, exc)

    def stats(self) -> CaptureStats:
        """A consistent snapshot of the counters."""
        with self._cond:
            return CaptureStats(pending=len(self._buf) + self._inflight, connected=self._connected, **self._counts)

    def flush(self, timeout_s: float) -> bool:
        """Wait until nothing is pending (or ``timeout_s``); ``True`` when all was settled."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._buf and not self._inflight, timeout_s)

    def close(self, timeout_s: float = 5.0) -> CaptureStats:
        """Send what can be sent within ``timeout_s``; count the rest as ``dropped_error``."""
        with self._cond:
            already = self._closing
            self._closing = True
        if not already:
            atexit.unregister(self._at_exit)
            self._poke()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._cancel_main)
            except RuntimeError:
                pass  # it ended between the join and now
            self._thread.join(5.0)
        return self.stats()

    def _at_exit(self) -> None:
        self.close(2.0)

    # ------------------------------------------------------------ thread side
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._main = self._loop.create_task(self._serve())
            self._loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass  # close() ran out of time and cancelled the sending; the rest is counted below
        except Exception:
            log.exception("capture: emitter thread failed; its events are counted as dropped")
        finally:
            with self._cond:
                self._closing = True  # later offers are counted as dropped, not left pending forever
            self._abandon()
            self._loop.close()

    def _cancel_main(self) -> None:
        if self._main is not None:
            self._main.cancel()

    def _abandon(self) -> None:
        """Count whatever is still buffered or unacknowledged as lost."""
        with self._cond:
            lost = len(self._buf) + self._inflight
            self._buf.clear()
            self._inflight = 0
            self._counts["dropped_error"] += lost
            self._connected = False
            self._cond.notify_all()
        if lost:
            log.warning("capture: %d events not sent to %s before close", lost, self.bootstrap_servers)

    def _take(self) -> list[Record]:
        with self._cond:
            batch = list(self._buf)
            self._buf.clear()
            self._inflight += len(batch)
        return batch

    async def _serve(self) -> None:
        producer: AIOKafkaProducer | None = None
        try:
            producer = await self._connect()
            while producer is not None:
                self._wake.clear()
                batch = self._take()
                for record in batch:
                    await self._send(producer, record)
                if not batch:
                    if self._closing:
                        await producer.flush()
                        # the ack callbacks were registered first, so they have run once this returns
                        await asyncio.gather(*self._futs, return_exceptions=True)
                        return
                    await self._wake.wait()
        finally:
            if producer is not None:
                await _stop_quietly(producer, 2.0)

    async def _connect(self) -> AIOKafkaProducer | None:
        """A started producer, retrying with backoff; ``None`` when closed with nothing to send."""
        delay = self._backoff_s[0]
        while not (self._closing and not self._buf):
            producer = AIOKafkaProducer(**self._producer_config)
            try:
                await asyncio.wait_for(producer.start(), self._connect_timeout_s)
            except asyncio.CancelledError:
                await _stop_quietly(producer, 1.0)
                raise
            except Exception as exc:  # noqa: BLE001 - any failure to connect means: try again later
                await _stop_quietly(producer, 1.0)
                exc = await self._diagnose(exc)
                self._warn("connect", "capture: Kafka at %s unreachable (%s: %s); retrying, %d events buffered",
                           self.bootstrap_servers, type(exc).__name__, exc, self.stats().pending)
                self._wake.clear()
                try:  # an offer or close() cuts the wait short
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, self._backoff_s[1])
                continue
            with self._cond:
                self._connected = True
            log.info("capture: producing to %s at %s", self.topic, self.bootstrap_servers)
            return producer
        return None

    async def _diagnose(self, exc: Exception) -> Exception:
        """A refused login or certificate as the error naming the setting; anything else as it was."""
        if isinstance(self._cluster, str) or self._cluster.security_protocol == "PLAINTEXT":
            return exc
        try:
            await preflight(self._cluster, self._connect_timeout_s)
        except BrokerAuthError as refused:
            return refused
        except Exception:  # noqa: BLE001 - unreachable: the original error says it best
            return exc
        return exc

    async def _send(self, producer: AIOKafkaProducer, record: Record) -> None:
        try:
            value = record.to_json()
            if len(value) > self.max_event_bytes:
                raise ValueError(f"event {len(value)} bytes is over the {self.max_event_bytes}-byte limit")
            fut = await producer.send(self.topic, value, key=record.key())
        except Exception as exc:  # noqa: BLE001 - a failed send loses this event, never the thread
            self._settle(exc)
            return
        self._futs.add(fut)
        fut.add_done_callback(self._acked)

    def _acked(self, fut: asyncio.Future[Any]) -> None:
        self._futs.discard(fut)
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        self._settle(exc)

    def _settle(self, exc: BaseException | None) -> None:
        with self._cond:
            self._inflight -= 1
            self._counts["emitted" if exc is None else "dropped_error"] += 1
            self._cond.notify_all()
        if exc is not None:
            self._warn("send", "capture: event not delivered to %s: %s: %s", self.topic, type(exc).__name__, exc)
