"""The worst records the fuzzers know, on the real broker: every worker still consumes afterwards (issue #13).

A handful of the worst cases (an oversized record, bytes that are not JSON, nesting
far past any parser, a year-0001 time, 2**63 token usage, a huge key and a huge
field name, a drift event from the far future, a hostile adapter record, a hostile
train job) go to every topic of a fresh prefix. The streams, monitors and trainer
workers run as processes, the adapter subscriber in process with a fake target;
then one valid record per worker follows the hostile ones, and each must be
consumed: the event stored, the monitors' and the trainer's groups committed to
the end of the topics they read (the hostile job rejected with its error), the
adapter served. No process may exit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import duckdb
from aiokafka import TopicPartition

from devkit.sim.teacher_model import SimTeacher
from devkit.sim.teacher_server import SimTeacherServer
from distillery.artifacts import ArtifactStore
from distillery.events import (
    INT32_MAX,
    AdapterControl,
    AdapterPublished,
    AdapterRejected,
    DriftEvent,
    GateMetrics,
    InferenceEvent,
    ModelScores,
    TrainJob,
)
from distillery.kafka import admin, producer, read_topic
from distillery.settings import Settings
from monitors.app import group_id as monitors_group
from serving.adapters.fetch import LocalAdapter
from serving.adapters.subscriber import AdapterSubscriber
from streams.store.db import store_path

TASK = "transactions"
KEY = TASK.encode()


def worst_values() -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) pairs every topic gets: no consumer may stop on any of them."""
    return [
        (KEY, b'{"event_id":"big","task":"transactions","input":"' + b"x" * 2_000_000 + b'"}'),  # oversized
        (KEY, b"\xff\xfe\x00 not json at all \x80"),
        (KEY, b'{"a":' * 20_000 + b"1" + b"}" * 20_000),  # nesting past every parser
        (KEY, b"[" * 50_000 + b"]" * 50_000),
        (KEY, json.dumps({"event_id": "y1", "task": TASK, "input": "KROGER #12", "ts": "0001-01-01"}).encode()),
        (KEY, json.dumps({"event_id": "u63", "task": TASK, "input": "SHELL OIL 77", "ts": "2026-03-01T10:00:00",
                          "usage": {"prompt_tokens": 2**63, "completion_tokens": 2**64}}).encode()),
        (b"k" * 500_000, json.dumps({"event_id": "hk", "task": TASK, "input": "CVS"}).encode()),  # huge key
        (KEY, json.dumps({"x" * 200_000: 1, "event_id": "hf", "task": TASK, "input": "CVS"}).encode()),
        (KEY, json.dumps({"task": TASK, "signal": "category_mix", "detector": "ADWIN",
                          "detected_at_ms": 2**63 - 1}).encode()),
        (KEY, None),  # a tombstone
    ]


def hostile_adapter() -> AdapterPublished:
    return AdapterPublished(task=TASK, adapter_id="../../../../tmp/escape", job_id="j-evil",
                            uri="zip://../../../../tmp/escape::file:///nonexistent.zip", sha256="0" * 64,
                            base_model="b", student_prompt="\u202e" * 1000,
                            metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1)))


def hostile_job() -> TrainJob:
    return TrainJob(task=TASK, job_id="j-" + "\u200b" * 500, snapshot_uri="s3://no-such-bucket/x.parquet",
                    snapshot_sha256="f" * 64, n_train=INT32_MAX, n_eval=INT32_MAX, gold_uri="zip://../../x::file:///x")


def oversized_job() -> bytes:
    """Counts no store column holds: the contract refuses it (it once crashed the next owner's store restore)."""
    doc = json.loads(hostile_job().to_json())
    doc.update(job_id="j-huge", n_train=2**62, n_eval=2**62, created_at_ms=2**63)
    return json.dumps(doc).encode()


async def produce(s: Settings, items: list[tuple[str, bytes | None, bytes | None]]) -> None:
    p = producer(s.kafka, max_request_size=8 * 1024 * 1024, linger_ms=5)
    await p.start()
    try:
        for topic, key, value in items:
            await p.send(topic, value, key=key)
        await p.flush()
    finally:
        await p.stop()


def stored(s: Settings, event_id: str) -> bool:
    try:
        con = duckdb.connect(str(store_path(s, TASK)), read_only=True)
    except duckdb.IOException:  # the worker holds the file for a moment, or has not made it yet
        return False
    try:
        return bool(con.execute("SELECT count(*) FROM events WHERE event_id = ?", [event_id]).fetchone()[0])
    except duckdb.CatalogException:
        return False
    finally:
        con.close()


async def committed_to_end(s: Settings, group: str, topics: list[str]) -> bool:
    client = admin(s.kafka)
    await client.start()
    try:
        offsets = await client.list_consumer_group_offsets(group)
    finally:
        await client.close()
    consumer_ends = await _ends(s, topics)
    return all(tp in offsets and offsets[tp].offset >= end for tp, end in consumer_ends.items() if end > 0)


async def _ends(s: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    from distillery.kafka import consumer as kafka_consumer
    c = kafka_consumer(s.kafka, enable_auto_commit=False)
    await c.start()
    try:
        parts = [TopicPartition(t, p) for t in topics for p in (c.partitions_for_topic(t) or await _parts(c, t))]
        return dict(await c.end_offsets(parts))
    finally:
        await c.stop()


async def _parts(c: Any, topic: str) -> set[int]:
    await c._client.force_metadata_update()
    return c.partitions_for_topic(topic) or set()


class Target:
    kind = "fake"

    def __init__(self) -> None:
        self.current: dict[str, str] = {}

    def serving(self, task: str) -> str | None:
        return self.current.get(task)

    async def activate(self, adapter: LocalAdapter) -> None:
        self.current[adapter.task] = adapter.adapter_id


def real_adapter(tmp: Path) -> AdapterPublished:
    src = tmp / "src" / "a-good"
    src.mkdir(parents=True)
    (src / "adapter_config.json").write_text("{}")
    (src / "adapter_model.safetensors").write_bytes(b"weights")
    uri = ArtifactStore(str(tmp / "store")).put_dir(src, f"adapters/{TASK}/a-good")
    return AdapterPublished(task=TASK, adapter_id="a-good", job_id="j-good", uri=uri,
                            sha256=hashlib.sha256(b"weights").hexdigest(), base_model="b", student_prompt="",
                            metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1)))


def test_the_worst_records_on_every_topic_stop_no_worker(kafka_settings, spawn_worker, tmp_path: Path) -> None:
    s = kafka_settings()
    t = s.topics
    topics = [t.inference, t.drift, t.train_jobs, t.published, t.control]
    hostile = [(topic, k, v) for topic in topics for k, v in worst_values()]
    hostile += [(t.published, KEY, hostile_adapter().to_json()), (t.train_jobs, KEY, hostile_job().to_json()),
                (t.train_jobs, KEY, oversized_job()),
                (t.control, KEY, AdapterControl(task=TASK, action="pin", adapter_id="../../../../tmp/escape").to_json()),
                (t.control, KEY, AdapterControl(task=TASK, action="rollback").to_json())]
    asyncio.run(produce(s, hostile))  # before any worker starts: their backlog

    with SimTeacherServer(SimTeacher()).run_in_thread() as teacher:
        streams = spawn_worker(s, "streams", OPENAI_BASE_URL=teacher.base_url)
        monitors = spawn_worker(s, "monitors", "--http-port", "0", "--web-port", "0")
        trainer = spawn_worker(s, "trainer")
        good = real_adapter(tmp_path)

        async def subscriber() -> str | None:
            target = Target()
            sub = AdapterSubscriber(s, [target], cache_dir=tmp_path / "serving")
            stop = asyncio.Event()
            task = asyncio.create_task(sub.run(stop))
            try:
                await asyncio.wait_for(sub.ready.wait(), 30)
                await produce(s, hostile)  # and again, live
                await produce(s, [(t.published, KEY, good.to_json()),
                                  (t.inference, KEY, InferenceEvent(event_id="after-1", task=TASK,
                                                                    input="KROGER #12 COLUMBUS OH").to_json()),
                                  (t.drift, KEY, DriftEvent(task=TASK, signal="category_mix",
                                                            detector="ADWIN").to_json()),
                                  (t.train_jobs, KEY, b"not a job either")])
                for _ in range(300):
                    if target.serving(TASK) == "a-good" or task.done():
                        break
                    await asyncio.sleep(0.1)
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)  # re-raises whatever stopped it
            assert not (Path("/tmp") / "escape").exists()
            assert all(p.resolve().is_relative_to((tmp_path / "serving").resolve())
                       for p in (tmp_path / "serving").rglob("*"))
            return target.serving(TASK)

        assert asyncio.run(subscriber()) == "a-good"

        deadline = time.monotonic() + 90
        while not stored(s, "after-1"):
            assert streams.poll() is None, Path(streams.log_path).read_text()[-3000:]  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the streams worker never stored the valid event"
            time.sleep(0.5)
        monitored = [t.inference, t.train_jobs]  # of the topics the monitors read, those the hostile records went to
        while not asyncio.run(committed_to_end(s, monitors_group(s), monitored)):
            assert monitors.poll() is None, Path(monitors.log_path).read_text()[-3000:]  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the monitors worker never consumed past the hostile records"
            time.sleep(1)
        # the trainer: the hostile job (a snapshot no backend can read) rejected with the reason, once;
        # everything after it skipped and committed
        while not asyncio.run(committed_to_end(s, f"{s.topic_prefix}distillery-trainer", [t.train_jobs])):
            assert trainer.poll() is None, Path(trainer.log_path).read_text()[-3000:]  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the trainer never consumed past the hostile jobs"
            time.sleep(1)
        rejected = [AdapterRejected.model_validate_json(r.value or b"")
                    for r in asyncio.run(read_topic(s.kafka, t.rejected, idle_s=1.0, timeout_s=10))]
        assert [r.job_id for r in rejected] == [hostile_job().job_id]  # once, though it was sent twice
        assert rejected[0].failed_rules in (["input"], ["error"]) and "s3://no-such-bucket" in rejected[0].reason
        assert streams.poll() is None and monitors.poll() is None and trainer.poll() is None
