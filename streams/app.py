"""The streams worker: a Faust app that turns production inference events into
teacher-labelled training data.

Agents (each short; the logic lives in pure modules):

* ``ingest`` reads ``inference.events`` in batches as raw bytes and hands each
  batch to :class:`streams.pipeline.Pipeline`: validate (dead-letter what fails,
  with the reason, source topic/partition/offset and original bytes), redact PII,
  sample, ask the teacher, filter its answers, write the batch to the task's
  DuckDB file in one transaction, then produce ``distill.labeled``,
  ``distill.review`` and ``train.jobs``; only then is the batch acknowledged;
* ``drift-boost`` reads ``drift.events`` and boosts sampling for the task (and
  arms the drift retrain trigger);
* a timer publishes the worker's outcome counters to ``ops.counters``.

``drift.events`` is keyed by task like ``inference.events``, so both topics are
co-partitioned: the worker that owns a task's events also hears its drift.

Scale out by starting more workers: they join the same consumer group (the app
id) and Kafka splits the partitions between them.

Quick start::

    distillery kafka up
    distillery streams                     # one worker; start more to scale out
    distillery replay --synthetic 2000     # send demo traffic (some of it malformed)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import faust
import pydantic

from distillery.events import DriftEvent
from distillery.settings import Settings
from streams.counters import Counters
from streams.pipeline import Outputs, Pipeline
from streams.source import Source
from streams.teacher import TeacherClient

log = logging.getLogger("distillery.streams")

MAX_FETCH_BYTES = 8 * 1024 * 1024
"""Well above the 1 MiB event limit, so an oversized event is read and refused, not stuck."""


def faust_broker_url(bootstrap: str) -> str:
    """``host:port,host:port`` as Faust's ``kafka://host:port;kafka://host:port``."""
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip())


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """A topic read and written as bytes: validation is ours, so bad input never kills an agent."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def parse_drift(value: bytes | None, source: Source) -> DriftEvent | None:
    """A drift event, or ``None`` (logged) for a malformed or foreign message: it must not stop us."""
    try:
        return DriftEvent.model_validate_json(value or b"")
    except pydantic.ValidationError as exc:
        log.warning("ignored a message on %s that is not a drift event: %s", source, str(exc)[:200])
        return None


def create_app(settings: Settings, counters: Counters | None = None,
               teacher_factory: Callable[[str], TeacherClient] | None = None) -> faust.App:
    """Build the streams Faust app for one deployment (topic prefix = consumer group)."""
    topics = settings.topics
    counters = counters or Counters("streams")
    datadir = settings.data_dir / "faust" / "streams"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.topic_prefix}distillery-streams",
        broker=faust_broker_url(settings.kafka.bootstrap_servers),
        store="memory://",
        autodiscover=False,
        web_enabled=settings.streams.web_port > 0,
        web_port=settings.streams.web_port or 6066,
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=MAX_FETCH_BYTES,
        producer_max_request_size=MAX_FETCH_BYTES,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        datadir=str(datadir),
    )
    inference_topic = raw_topic(app, topics.inference)
    counters_topic = raw_topic(app, topics.counters)
    drift_topic = raw_topic(app, topics.drift)
    pipeline = Pipeline(settings, counters, teacher_factory)
    app.distillery_pipeline = pipeline  # type: ignore[attr-defined]
    batch_size, within = settings.streams.store_batch_size, settings.streams.store_batch_seconds

    async def publish(out: Outputs) -> None:
        """Send a batch's records and wait until Kafka has every one: only then may it be acked."""
        pending = []
        for topic, records in ((topics.deadletter, out.deadletters), (topics.labeled, out.labeled),
                               (topics.review, out.review), (topics.train_jobs, out.jobs)):
            for rec in records:
                pending.append(await app.producer.send(topic, rec.key(), rec.to_json(), None, None, None))
        if pending:
            await asyncio.gather(*pending)
        for job in out.jobs:
            pipeline.published(job)

    @app.agent(inference_topic, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        # take_events acks a batch only when the loop comes back for the next one,
        # i.e. after the DuckDB commit and the sends below: at-least-once, no loss.
        async for batch in stream.take_events(batch_size, within=within):  # type: ignore[attr-defined]
            raws = [(e.value, e.key, Source(e.message.topic, e.message.partition, e.message.offset))
                    for e in batch]
            out = await pipeline.process(raws)
            await publish(out)
            yield None

    @app.agent(drift_topic, name="drift-boost")
    async def drift_boost(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            drift = parse_drift(event.value, Source(event.message.topic, event.message.partition,
                                                    event.message.offset))
            if drift is not None:
                log.info("drift on %s (%s): boosting sampling", drift.task, drift.signal)
                pipeline.on_drift(drift.task, drift.detected_at_ms)
            yield None

    @app.timer(interval=settings.streams.batch_poll_seconds)
    async def poll_batches() -> None:
        if not any(spec.teacher.batch for spec in settings.tasks.values()):
            return
        await publish(await pipeline.poll_batches())

    @app.timer(interval=1.0)
    async def release_idle_stores() -> None:
        pipeline.release_idle()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        pipeline.revoked()

    @app.task
    async def _close_on_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await pipeline.close()

    @app.timer(interval=2.0)
    async def publish_counters() -> None:
        snap: dict[str, Any] = counters.snapshot()
        await counters_topic.send(key=counters.worker_id.encode(), value=json.dumps(snap).encode())

    return app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run one streams worker in the foreground until interrupted."""
    from faust.worker import Worker

    for task in settings.tasks:
        TeacherClient.from_settings(settings, task)  # a task without a reachable teacher fails now, by name
    app = create_app(settings)
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
