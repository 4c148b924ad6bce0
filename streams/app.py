"""The streams worker: a Faust app that turns production inference events into
teacher-labeled training data.

What runs (each short; the logic lives in pure modules):

* ``ingest`` reads ``inference.events`` and ``drift.events`` in batches through
  :class:`streams.consumer.BatchConsumer` (one aiokafka consumer, ``getmany``;
  a Faust agent's per-event overhead alone capped the worker below its aim) and
  hands each batch to :class:`streams.pipeline.Pipeline`: validate (dead-letter
  what fails, with the reason, source topic/partition/offset and original
  bytes), redact PII, sample, ask the teacher, filter its answers, write the
  batch to the task's DuckDB file in one transaction, then produce
  ``distill.labeled``, ``distill.review`` and ``train.jobs``; only once Kafka
  acknowledged every record are the batch's offsets committed;
* review decisions: ``distill.reviewed`` (people's decisions, keyed by task
  and co-partitioned like ``drift.events``) is read in the same batches and
  applied to the owner's store (:mod:`streams.reviewed`); a decision that
  cannot be applied is dead-lettered;
* takeover: before a task's first batch after an assignment, its store is
  brought up to the end of its records on Kafka (:mod:`streams.restore`), so a
  worker on another host holds what the previous owner held; gold rows and
  events waiting for a Batch API job are published (``distill.gold``,
  ``distill.pending``) like labels and review items, through the outbox;
* drift boost: a ``drift.events`` record in a batch boosts sampling for its task
  (and arms the drift retrain trigger) before the batch's events are sampled;
* timers poll Batch API jobs, let go of idle stores and publish the worker's
  outcome counters to ``ops.counters``.

``drift.events`` is keyed by task like ``inference.events``, so both topics are
co-partitioned, and the range assignor gives partition *p* of both to one
worker: the worker that owns a task's events also hears its drift.

Scale out by starting more workers: they join the same consumer group
(``<prefix>distillery-streams``, where the offsets of ``inference.events`` have
always been committed) and Kafka splits the partitions between them. The Faust
app itself (``<prefix>distillery-streams-app``) only reads its leader topic.
Stop every worker of a version before the agent-based one's replacement starts:
the two join the group with different assignment protocols.

With ``[streams] health_port`` (``distillery streams --health-port``) the worker
serves ``/healthz`` and ``/readyz`` (:mod:`distillery.health`) in place of Faust's
web server, which stays off.

Quick start::

    distillery kafka up
    distillery streams                     # one worker; start more to scale out
    distillery replay --synthetic 2000     # send demo traffic (some of it malformed)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import pydantic

from distillery.counters import Counters
from distillery.counters_topic import resume as resume_counters
from distillery.events import DriftEvent
from distillery.health import HealthServer, Readiness
from distillery.kafka_security import faust_options
from distillery.settings import Settings
from distillery.topics import Topics
from streams.adapter_reader import AdapterReader
from streams.consumer import Batch, BatchConsumer, group_consumer
from streams.filing import Outputs
from streams.pipeline import Pipeline
from streams.restore_kafka import TopicReader
from streams.runtime import tune_gc, warm_up
from streams.source import Raw, Source
from streams.teacher.batch_poll import poll_batches
from streams.teacher.client import TeacherClient

log = logging.getLogger("distillery.streams")

MAX_FETCH_BYTES = 8 * 1024 * 1024
"""Well above the 1 MiB event limit, so an oversized event is read and refused, not stuck."""


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """A topic read and written as bytes: validation is ours, so bad input never kills the worker."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def parse_drift(value: bytes | None, source: Source) -> DriftEvent | None:
    """A drift event, or ``None`` (logged) for a malformed or foreign message: it must not stop us."""
    try:
        return DriftEvent.model_validate_json(value or b"")
    except pydantic.ValidationError as exc:
        log.warning("ignored a message on %s that is not a drift event: %s", source, str(exc)[:200])
        return None


def ingest_group(settings: Settings) -> str:
    """The consumer group of the streams workers' ingest (where its offsets are committed)."""
    return f"{settings.topic_prefix}distillery-streams"


def on_drift_records(pipeline: Pipeline, raws: list[Raw]) -> None:
    """Boost sampling for every task a batch's drift events name."""
    for value, _key, source in raws:
        drift = parse_drift(value, source)
        if drift is not None:
            log.info("drift on %s (%s): boosting sampling", drift.task, drift.signal)
            pipeline.on_drift(drift.task, drift.detected_at_ms)


Send = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]
"""``send(topic, key, value)``: queue one record; what it returns completes once Kafka has it."""


class BatchHandler:
    """What the worker does with one batch: drift first, then the events, then publish.

    The consumer commits the batch's offsets after :meth:`__call__` returns, so
    this is the seam every hostile message goes through (the fuzzer drives it in
    process with a fake ``send``).
    """

    def __init__(self, pipeline: Pipeline, topics: Topics, send: Send) -> None:
        self.pipeline = pipeline
        self.topics = topics
        self.send = send

    async def __call__(self, batch: Batch) -> None:
        on_drift_records(self.pipeline, batch.raws(self.topics.drift))
        out = await self.pipeline.process(batch.raws(self.topics.inference))
        reviewed = batch.raws(self.topics.reviewed)
        await self.pipeline.restore_reviewed(reviewed)
        out.deadletters.extend(self.pipeline.apply_reviews(reviewed))
        await self.publish(out)  # BatchConsumer commits the batch's offsets after this returns

    async def publish(self, out: Outputs) -> None:
        """Send a batch's records and wait until Kafka has every one: only then may it be acked."""
        pending = []
        tasks: list[str] = []
        for topic, records in ((self.topics.deadletter, out.deadletters), (self.topics.labeled, out.labeled),
                               (self.topics.review, out.review), (self.topics.gold, out.gold),
                               (self.topics.pending, out.pending),
                               (self.topics.train_jobs, out.jobs)):
            for rec in records:
                pending.append(await self.send(topic, rec.key(), rec.to_json()))
                tasks.append(rec.task)
        if pending:
            for task, meta in zip(tasks, await asyncio.gather(*pending), strict=True):
                self.pipeline.wrote(task, meta)
        self.pipeline.acked(out)
        for job in out.jobs:
            self.pipeline.published(job)

    async def poll_batches(self) -> None:
        """Take in Batch API jobs and publish what they labeled; a failure waits for the next poll.

        :func:`~streams.teacher.batch_poll.poll_batches` already turns teacher errors into retries or
        online labels; this is the last guard, so a timer never takes the worker down.
        """
        try:
            await self.publish(await poll_batches(self.pipeline))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.pipeline.counters.incr("_worker", "batch_errors")
            log.exception("streams: polling Batch API jobs failed; trying again at the next poll")


SNAPSHOT_PASS_S = 60.0
"""How often the worker looks for tasks whose snapshots are due for retention (:meth:`Pipeline.snapshots_due`)."""


async def prune_snapshots(pipeline: Pipeline, reader: AdapterReader) -> None:
    """Apply snapshot retention to every task that is due, each with its adapter book read whole just now.

    Nothing here stops the worker: a book that cannot be read, or a store or
    file that cannot be changed, is logged and counted, and the task is tried
    again at a later pass.
    """
    for task in pipeline.snapshots_due():
        try:
            book = await reader.book(task)
            if task in pipeline.owned and task in pipeline.restored:  # still ours after the read
                pipeline.prune_snapshots(task, book)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever failed, the worker goes on; the task is due again
            pipeline.counters.incr(task, "snapshot_prune_errors")
            log.warning("task %s: snapshot retention skipped this pass (tried again later): %s: %s",
                        task, type(exc).__name__, exc)


def create_app(settings: Settings, counters: Counters | None = None,
               teacher_factory: Callable[[str], TeacherClient] | None = None) -> faust.App:
    """Build the streams Faust app for one deployment (topic prefix = consumer group)."""
    topics = settings.topics
    counters = counters or Counters.for_settings("streams", settings)
    datadir = settings.data_dir / "faust" / "streams"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{ingest_group(settings)}-app",
        **faust_options(settings.kafka),
        store="memory://",
        autodiscover=False,
        web_enabled=settings.streams.web_port > 0,
        web_port=settings.streams.web_port or 6066,
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=MAX_FETCH_BYTES,
        datadir=str(datadir),
    )
    counters_topic = raw_topic(app, topics.counters)
    reader = TopicReader(settings, max_fetch_bytes=MAX_FETCH_BYTES)
    pipeline = Pipeline(settings, counters, teacher_factory, restorer=reader)
    app.distillery_pipeline = pipeline  # type: ignore[attr-defined]
    batch_size, within = settings.streams.store_batch_size, settings.streams.store_batch_seconds

    async def send(topic: str, key: bytes, value: bytes) -> Awaitable[Any]:
        return await app.producer.send(topic, key, value, None, None, None)  # type: ignore[no-any-return]

    handle = BatchHandler(pipeline, topics, send)
    ingesting: list[BatchConsumer] = []  # the ingest task's consumer, for /readyz

    @app.task
    async def ingest() -> None:
        kafka = group_consumer(settings.kafka, ingest_group(settings),
                               max_fetch_bytes=MAX_FETCH_BYTES)
        consumer = BatchConsumer(kafka, (topics.inference, topics.drift, topics.reviewed), max_records=batch_size,
                                 wait_s=within, on_revoked=pipeline.revoked)
        ingesting.append(consumer)
        await consumer.start()
        try:
            await consumer.run(handle)
        finally:
            await consumer.stop()

    @app.timer(interval=settings.streams.batch_poll_seconds)
    async def poll_batches() -> None:
        if not any(spec.teacher.batch for spec in settings.tasks.values()):
            return
        await handle.poll_batches()

    @app.timer(interval=1.0)
    async def release_idle_stores() -> None:
        pipeline.release_idle()

    adapters = AdapterReader(settings)

    @app.timer(interval=SNAPSHOT_PASS_S)
    async def snapshot_retention() -> None:
        await prune_snapshots(pipeline, adapters)

    @app.task
    async def _close_on_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await pipeline.close()
            await reader.close()
            await adapters.close()

    if settings.streams.health_port:
        async def readiness() -> Readiness:
            if not ingesting:
                return Readiness(False, "the ingest consumer has not started yet")
            return await ingesting[-1].readiness(settings.http.ready_max_lag)

        @app.task
        async def health() -> None:
            server = HealthServer(readiness, name="streams")
            await server.start(settings.http.health_host, settings.streams.health_port)
            try:
                await asyncio.Event().wait()
            finally:
                await server.close()

    async def send_counters(key: str, value: bytes | None) -> None:
        await (await app.producer.send(topics.counters, key.encode(), value, None, None, None))

    @app.timer(interval=2.0)
    async def publish_counters() -> None:
        if not counters.resumed:  # never publish before the key's last totals are read back
            try:
                await resume_counters(settings, counters, send_counters)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - tried again at the next tick; counting goes on meanwhile
                log.warning("ops.counters: could not read %s's last totals back yet (%s: %s)", counters.worker_id,
                            type(exc).__name__, exc)
                return
        snap: dict[str, Any] = counters.snapshot()
        await counters_topic.send(key=counters.worker_id.encode(), value=json.dumps(snap).encode())

    return app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run one streams worker in the foreground until interrupted."""
    from faust.worker import Worker

    for task in settings.tasks:
        TeacherClient.from_settings(settings, task)  # a task without a reachable teacher fails now, by name
    app = create_app(settings)
    warm_up()
    tune_gc()
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
