"""Every worker through a SASL_SSL broker: a second local broker with SCRAM users and TLS.

The broker is the project's own local one (:class:`LocalBroker`) with a SASL_SSL
listener on free ports and its own data folder; its SCRAM users are created by
``kafka-storage format --add-scram`` and its certificate is signed by a CA made
here with ``keytool``. Clients only ever use the SASL_SSL listener. It is
stopped when this module's tests are done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from pydantic import SecretStr

from devkit.localkafka.broker import LocalBroker
from devkit.localkafka.tls import client_cert, local_pki
from devkit.sim.teacher_server import SimTeacherServer
from devkit.sim.transactions import TransactionGenerator
from distillery.errors import BrokerAuthError, BrokerUnavailableError
from distillery.events import AdapterRejected, InferenceEvent, TrainJob
from distillery.kafka import check_broker, consumer, ensure_topics, make_producer, read_topic, send_record
from distillery.settings import KafkaSettings, Settings
from distillery_capture import CaptureStats, KafkaEmitter
from monitors.app import group_id as monitors_group
from streams.app import ingest_group

USER, PASSWORD = "distillery", "scram-pass-7f3a"
TERMINAL = ("labeled", "review", "rejected", "skip_rate", "skip_duplicate", "skip_budget", "gold", "pending_batch")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A second local broker with a SASL_SSL and a mutual-TLS listener; stopped after this module."""
    home = tmp_path_factory.mktemp("secured-kafka")
    pki = local_pki(home / "tls")
    broker = LocalBroker(home, _free_port(), _free_port(), "512m", sasl_ssl_port=_free_port(),
                         keystore=pki.keystore, keystore_password=pki.password, scram_users=((USER, PASSWORD),),
                         ssl_port=_free_port(), truststore=pki.ca_pem)
    broker.up(180)
    yield broker
    broker.down()


def _env(broker: LocalBroker, password: str = PASSWORD) -> dict[str, str]:
    """The environment a worker needs for the secured listener (as a deployment would set it)."""
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": password,
        "KAFKA_SSL_CAFILE": str(broker.home / "tls" / "ca.pem"),
    }


def _settings(settings_factory, broker: LocalBroker, password: str = PASSWORD) -> Settings:  # type: ignore[no-untyped-def]
    s = settings_factory()
    kafka = KafkaSettings.model_validate({
        **s.kafka.model_dump(exclude={"sasl_password", "ssl_key_password"}),
        "bootstrap_servers": broker.secure_bootstrap, "external": True, "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": USER, "sasl_password": password,
        "ssl_cafile": broker.home / "tls" / "ca.pem",
    })
    return s.with_overrides(kafka=kafka)


def _wait_for(pred, timeout: float, what: str, *logs: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(1)
    tails = "\n".join(Path(p).read_text()[-2500:] for p in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def test_builder_clients_produce_consume_and_commit(secured: LocalBroker, settings_factory) -> None:
    s = _settings(settings_factory, secured)
    asyncio.run(ensure_topics(s))
    events = [InferenceEvent(event_id=f"sec-{i}", task="transactions", input=f"SHELL OIL {i}") for i in range(12)]

    async def go() -> dict[TopicPartition, int]:
        producer = make_producer(s)
        await producer.start()
        try:
            for e in events:
                await send_record(producer, s, e)
        finally:
            await producer.stop()
        group = consumer(s.kafka, s.topics.inference, group_id=f"{s.topic_prefix}sec", enable_auto_commit=False,
                         auto_offset_reset="earliest")
        await group.start()
        try:
            got = 0
            while got < len(events):
                got += sum(len(v) for v in (await group.getmany(timeout_ms=1000)).values())
            await group.commit()
            parts = [TopicPartition(s.topics.inference, p) for p in range(s.kafka.partitions)]
            return {tp: (await group.committed(tp)) or 0 for tp in parts}
        finally:
            await group.stop()

    committed = asyncio.run(go())
    assert sum(committed.values()) == len(events)
    read = asyncio.run(read_topic(s.kafka, s.topics.inference, expect=len(events), timeout_s=30))
    assert sorted(InferenceEvent.model_validate_json(r.value or b"").event_id for r in read) == sorted(
        e.event_id for e in events)


def test_capture_sends_through_sasl_ssl_and_names_a_refused_password(secured: LocalBroker, settings_factory,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    s = _settings(settings_factory, secured)
    asyncio.run(ensure_topics(s))
    emitter = KafkaEmitter.from_settings(s)
    for i in range(5):
        assert emitter.offer(InferenceEvent(event_id=f"cap-{i}", task="transactions", input=f"KROGER {i}"))
    assert emitter.close(30.0) == CaptureStats(emitted=5)
    read = asyncio.run(read_topic(s.kafka, s.topics.inference, expect=5, timeout_s=30))
    assert sorted(InferenceEvent.model_validate_json(r.value or b"").event_id for r in read) == [
        f"cap-{i}" for i in range(5)]

    wrong = _settings(settings_factory, secured, password="not-the-password")
    with caplog.at_level(logging.WARNING, logger="distillery_capture.emitter"):
        refused = KafkaEmitter.from_settings(wrong, backoff_s=(30.0, 30.0))
        try:
            refused.offer(InferenceEvent(event_id="never", task="transactions", input="x"))
            _wait_for(lambda: any("unreachable" in r.getMessage() for r in caplog.records), 60, "the warning")
        finally:
            refused.close(0.5)
    warning = next(r.getMessage() for r in caplog.records if "unreachable" in r.getMessage())
    assert "BrokerAuthError" in warning and "KAFKA_SASL_PASSWORD" in warning and "not-the-password" not in warning


def test_wrong_password_fails_at_start_naming_the_setting(secured: LocalBroker, settings_factory,
                                                           spawn_worker) -> None:
    s = _settings(settings_factory, secured, password="not-the-password")
    with pytest.raises(BrokerAuthError) as caught:
        asyncio.run(ensure_topics(s))
    message = str(caught.value)
    assert "kafka.sasl_username" in message and "KAFKA_SASL_PASSWORD" in message
    assert f"login as '{USER}'" in message and "not-the-password" not in message

    procs = [spawn_worker(s, "streams", **_env(secured, "not-the-password")),
             spawn_worker(s, "trainer", **_env(secured, "not-the-password")),
             spawn_worker(s, "monitors", "--http-port", str(_free_port()), "--web-port", str(_free_port()),
                          **_env(secured, "not-the-password"))]
    for proc in procs:
        assert proc.wait(120) != 0  # a guard, not a measurement: a retry loop would never exit
        log = Path(proc.log_path).read_text()
        assert "KAFKA_SASL_PASSWORD" in log and "kafka.sasl_username" in log, log[-2000:]
        assert "not-the-password" not in log


def test_streams_monitors_and_trainer_run_through_sasl_ssl(secured: LocalBroker, settings_factory,
                                                            spawn_worker, tmp_path: Path) -> None:
    s = _settings(settings_factory, secured)
    asyncio.run(ensure_topics(s))
    env = _env(secured)
    server = SimTeacherServer(latency_s=0.01)
    with server.run_in_thread() as teacher:
        streams = spawn_worker(s, "streams", OPENAI_BASE_URL=teacher.base_url, **env)
        monitors = spawn_worker(s, "monitors", "--http-port", str(_free_port()), "--web-port", str(_free_port()),
                                **env)
        trainer = spawn_worker(s, "trainer", **env)
        logs = (streams.log_path, monitors.log_path, trainer.log_path)
        events = [InferenceEvent(event_id=f"w-{i}", task="transactions", input=text, ts=1_780_000_000_000 + i)
                  for i, (text, _) in enumerate(TransactionGenerator(seed=5).stream(60))]
        # a job whose snapshot does not exist: the trainer's verdict is a quick, reasoned rejection
        job = TrainJob(task="transactions", job_id="transactions-secured", snapshot_uri=f"file://{tmp_path}/none.parquet",
                       snapshot_sha256="0" * 64, gold_uri=f"file://{tmp_path}/gold.parquet", n_train=1, n_eval=1,
                       base_model="none")

        async def produce() -> None:
            producer = make_producer(s)
            await producer.start()
            try:
                for e in events:
                    await send_record(producer, s, e)
                await send_record(producer, s, job)
            finally:
                await producer.stop()

        asyncio.run(produce())

        def streamed() -> int:  # the streams worker's own count of terminal outcomes, from ops.counters
            snaps = asyncio.run(read_topic(s.kafka, s.topics.counters, idle_s=1.0, timeout_s=5))
            counts = [json.loads(r.value or b"{}").get("counts", {}).get("transactions", {}) for r in snaps]
            return max((sum(c.get(k, 0) for k in TERMINAL) for c in counts), default=0)

        _wait_for(lambda: streamed() == len(events), 180, "streams to label every event", *logs)

        async def committed(group: str, topic: str) -> int:
            reader = consumer(s.kafka, group_id=group, enable_auto_commit=False)
            await reader.start()
            try:
                parts = [TopicPartition(topic, p) for p in range(s.kafka.partitions)]
                return sum([(await reader.committed(tp)) or 0 for tp in parts])
            finally:
                await reader.stop()

        _wait_for(lambda: asyncio.run(committed(ingest_group(s), s.topics.inference)) == len(events), 60,
                  "the streams workers to commit every event", *logs)
        _wait_for(lambda: asyncio.run(committed(monitors_group(s), s.topics.inference)) == len(events), 120,
                  "the monitors to commit every event", *logs)

        def rejected() -> list[AdapterRejected]:
            recs = asyncio.run(read_topic(s.kafka, s.topics.rejected, idle_s=1.0, timeout_s=5))
            return [AdapterRejected.model_validate_json(r.value or b"") for r in recs]

        _wait_for(lambda: bool(rejected()), 180, "the trainer's verdict", *logs)
        assert [r.job_id for r in rejected()] == [job.job_id]
        _wait_for(lambda: asyncio.run(committed(f"{s.topic_prefix}distillery-trainer", s.topics.train_jobs)) == 1,
                  60, "the trainer to commit the job", *logs)
        for proc in (streams, monitors, trainer):
            assert proc.poll() is None, Path(proc.log_path).read_text()[-3000:]
            assert PASSWORD not in Path(proc.log_path).read_text()  # never logged, at any level shown


def test_mutual_tls_with_an_encrypted_client_key(secured: LocalBroker, settings_factory) -> None:
    tls = secured.home / "tls"
    cert = client_cert(tls, "distillery-client", passphrase="kp-client-9")
    base = settings_factory()
    kafka = KafkaSettings(bootstrap_servers=secured.ssl_bootstrap, external=True, security_protocol="SSL",
                          ssl_cafile=tls / "ca.pem", ssl_certfile=cert.certfile, ssl_keyfile=cert.keyfile,
                          ssl_key_password=SecretStr("kp-client-9"))
    s = base.with_overrides(kafka=kafka)
    asyncio.run(ensure_topics(s, [s.topics.inference]))
    event = InferenceEvent(event_id="mtls-1", task="transactions", input="SHELL OIL 1")

    async def send() -> None:
        producer = make_producer(s)
        await producer.start()
        try:
            await send_record(producer, s, event)
        finally:
            await producer.stop()

    asyncio.run(send())
    read = asyncio.run(read_topic(s.kafka, s.topics.inference, expect=1, timeout_s=30))
    assert [InferenceEvent.model_validate_json(r.value or b"").event_id for r in read] == ["mtls-1"]

    no_cert = kafka.model_copy(update={"ssl_certfile": None, "ssl_keyfile": None, "ssl_key_password": None})
    with pytest.raises(BrokerUnavailableError, match="if it requires a client certificate .mutual TLS., "
                       "set kafka.ssl_certfile and kafka.ssl_keyfile"):
        asyncio.run(check_broker(no_cert))
