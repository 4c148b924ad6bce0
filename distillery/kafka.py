"""Kafka plumbing shared by every worker: client factories, broker checks, topics, typed produce.

Every aiokafka client is built here (:func:`consumer`, :func:`producer`,
:func:`admin`), from :func:`distillery.kafka_security.client_options`, so the
cluster's security settings reach every one of them. Workers that are not Faust
apps (the trainer, the adapter subscriber, the CLI) use these helpers; all of
them key records by task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from distillery.errors import BrokerUnavailableError
from distillery.events import Record
from distillery.kafka_security import client_options
from distillery.settings import Settings
from distillery.topics import Topics
from distillery_capture.preflight import Cluster, preflight

log = logging.getLogger(__name__)

TOPIC_READY_S = 60.0
"""How long :func:`ensure_topics` waits for new topics' partition leaders."""


def consumer(kafka: Cluster, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """An aiokafka consumer on the cluster with its security settings; ``options`` as aiokafka's."""
    return AIOKafkaConsumer(*topics, **{**client_options(kafka), **options})


def producer(kafka: Cluster, **options: Any) -> AIOKafkaProducer:
    """A plain aiokafka producer on the cluster (see :func:`make_producer` for the workers' one)."""
    return AIOKafkaProducer(**{**client_options(kafka), **options})


def admin(kafka: Cluster, **options: Any) -> AIOKafkaAdminClient:
    """An aiokafka admin client on the cluster with its security settings."""
    return AIOKafkaAdminClient(**{**client_options(kafka), **options})


def _servers(kafka: Cluster) -> str:
    return kafka if isinstance(kafka, str) else kafka.bootstrap_servers


async def check_broker(kafka: Cluster, timeout_s: float = 5.0) -> list[str]:
    """Ask the cluster for its topics.

    Raises :class:`BrokerUnavailableError` if nobody answers, and
    :class:`~distillery.errors.BrokerAuthError` (naming the setting) if the broker
    refuses the TLS or SASL settings.
    """
    await preflight(kafka, timeout_s)
    client = admin(kafka, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.start(), timeout_s)
        return list(await asyncio.wait_for(client.list_topics(), timeout_s))
    except (TimeoutError, KafkaConnectionError, KafkaError, OSError) as exc:
        raise BrokerUnavailableError(
            f"no Kafka broker answers at {_servers(kafka)} ({type(exc).__name__}: {exc}); "
            "start the local one with `distillery kafka up` or set KAFKA_BOOTSTRAP_SERVERS"
        ) from None
    finally:
        try:
            await client.close()
        except Exception:  # noqa: BLE001 - closing a half-open client must not mask the real error
            pass


async def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> list[str]:
    """Create the deployment's topics that do not exist yet; return those created.

    Every worker calls this first, so wrong credentials fail here, at start, with
    the setting named (:func:`~distillery_capture.preflight.preflight`).
    """
    topics = settings.topics
    wanted = list(names) if names is not None else topics.all()
    await preflight(settings.kafka)
    client = admin(settings.kafka)
    try:
        await client.start()
    except (KafkaConnectionError, OSError) as exc:
        raise BrokerUnavailableError(
            f"no Kafka broker answers at {settings.kafka.bootstrap_servers} ({exc})"
        ) from None
    try:
        existing = set(await client.list_topics())
        new = [
            NewTopic(
                name=t,
                num_partitions=settings.kafka.partitions,
                replication_factor=settings.kafka.replication_factor,
                topic_configs=_topic_configs(topics, t),
            )
            for t in wanted
            if t not in existing
        ]
        if new:
            try:
                await client.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another worker created it first: that is fine
            await _until_led(client, [t.name for t in new])
        return [t.name for t in new]
    finally:
        await client.close()


async def _until_led(client: AIOKafkaAdminClient, names: list[str]) -> None:
    """Wait (up to ``TOPIC_READY_S``) until every partition of new topics has a leader.

    A broker answers ``create_topics`` before it has elected the leaders; a client
    that reads a topic before then logs errors in a loop (on a busy machine the
    demo printed 93,000 lines in its first half minute), so "created" means usable.
    """
    deadline = time.monotonic() + TOPIC_READY_S
    while True:
        described = await client.describe_topics(names)
        if len(described) == len(names) and all(
                t.get("error_code") == 0 and t.get("partitions")
                and all(part.get("leader", -1) >= 0 for part in t["partitions"]) for t in described):
            return
        if time.monotonic() > deadline:
            log.warning("new topics still have partitions without a leader after %.0f s: %s", TOPIC_READY_S,
                        ", ".join(names))
            return
        await asyncio.sleep(0.2)


def _topic_configs(topics: Topics, name: str) -> dict[str, str]:
    """A new topic's configuration: compacted, kept for good (a store is rebuilt from it), or the broker's default."""
    if name in topics.compacted():
        return {"cleanup.policy": "compact"}
    if name in topics.retained():
        return {"retention.ms": "-1"}
    return {}


def make_producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    """An idempotent, acks=all producer; records are keyed by task by the caller."""
    conf: dict[str, object] = {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "compression_type": None,
    }
    conf.update(overrides)
    return producer(settings.kafka, **conf)


async def send_record(producer: AIOKafkaProducer, settings: Settings, record: Record) -> None:
    """Produce one contract record to its topic, keyed by its task, and wait for the ack."""
    topic = settings.topics.name(record.topic_name)
    await producer.send_and_wait(topic, record.to_json(), key=record.key())


async def send_one(settings: Settings, record: Record) -> None:
    """Produce one record with a producer of its own (CLI commands and tools, not workers)."""
    producer = make_producer(settings)
    await producer.start()
    try:
        await send_record(producer, settings, record)
    finally:
        await producer.stop()


async def topic_partitions(reader: AIOKafkaConsumer, topic: str, *, timeout_s: float) -> set[int]:
    """``topic``'s partitions in the cluster's metadata, refreshed until they show; empty after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    found = reader.partitions_for_topic(topic)
    while not found and loop.time() < deadline:
        await reader._client.force_metadata_update()
        await asyncio.sleep(0.2)
        found = reader.partitions_for_topic(topic)
    return set(found or ())


async def read_topic(
    kafka: Cluster,
    topic: str,
    *,
    expect: int | None = None,
    timeout_s: float = 30.0,
    idle_s: float = 2.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the beginning, without a consumer group.

    Stops when ``expect`` records have arrived, when nothing new came for ``idle_s``
    (only once at least one poll found the end), or at ``timeout_s``.
    """
    reader = consumer(
        kafka,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await reader.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        parts = [TopicPartition(topic, p) for p in sorted(await topic_partitions(reader, topic, timeout_s=timeout_s))]
        if not parts:
            return out
        reader.assign(parts)
        await reader.seek_to_beginning(*parts)
        last_new = loop.time()
        while loop.time() < deadline:
            batch = await reader.getmany(timeout_ms=200, max_records=5000)
            got = [r for recs in batch.values() for r in recs]
            if got:
                out.extend(got)
                last_new = loop.time()
            if expect is not None and len(out) >= expect:
                break
            if expect is None and loop.time() - last_new > idle_s:
                break
        return out
    finally:
        await reader.stop()
