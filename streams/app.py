"""The streams worker: a Faust app that turns production inference events into
teacher-labelled training data.

Agents (each short; the logic lives in pure modules):

* ``ingest`` reads ``inference.events`` as raw bytes, validates each one against
  the contract (:mod:`streams.ingest`) and dead-letters what fails, with the
  reason, the source topic/partition/offset and the original bytes;
* a timer publishes the worker's outcome counters to ``ops.counters``.

Scale out by starting more workers: they join the same consumer group (the app
id) and Kafka splits the partitions between them.

Quick start::

    distillery kafka up
    distillery streams                     # one worker; start more to scale out
    distillery replay --synthetic 2000     # send demo traffic (some of it malformed)
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import faust

from distillery.events import DeadLetter
from distillery.settings import Settings
from streams.counters import Counters
from streams.ingest import Source, triage

log = logging.getLogger("distillery.streams")

MAX_FETCH_BYTES = 8 * 1024 * 1024
"""Well above the 1 MiB event limit, so an oversized event is read and refused, not stuck."""


def faust_broker_url(bootstrap: str) -> str:
    """``host:port,host:port`` as Faust's ``kafka://host:port;kafka://host:port``."""
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip())


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """A topic read and written as bytes: validation is ours, so bad input never kills an agent."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def create_app(settings: Settings, counters: Counters | None = None) -> faust.App:
    """Build the streams Faust app for one deployment (topic prefix = consumer group)."""
    topics = settings.topics
    counters = counters or Counters("streams")
    datadir = settings.data_dir / "faust" / "streams"
    datadir.mkdir(parents=True, exist_ok=True)
    task_names = set(settings.tasks)
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
    deadletter_topic = raw_topic(app, topics.deadletter)
    counters_topic = raw_topic(app, topics.counters)
    app.distillery_counters = counters  # type: ignore[attr-defined]

    @app.agent(inference_topic, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            msg = event.message
            source = Source(msg.topic, msg.partition, msg.offset)
            result = triage(
                event.value, event.key, source, tasks=task_names, max_bytes=settings.max_event_bytes
            )
            if isinstance(result, DeadLetter):
                log.warning("dead-lettered %s: %s", source, "; ".join(result.problems)[:500])
                await deadletter_topic.send(key=result.key(), value=result.to_json())
                counters.incr(result.task, "deadlettered")
            else:
                counters.incr(result.task, "valid")
            yield None

    @app.timer(interval=2.0)
    async def publish_counters() -> None:
        snap: dict[str, Any] = counters.snapshot()
        await counters_topic.send(key=counters.worker_id.encode(), value=json.dumps(snap).encode())

    return app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run one streams worker in the foreground until interrupted."""
    from faust.worker import Worker

    app = create_app(settings)
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
