"""A task moves to a worker on another disk and its state moves with it (issue #14, part 4).

Worker A (its own data dir) labels the first part of a stream and is stopped.
The group's committed offset is then set back 30 events, as a kill between
publishing a batch and committing it would leave it. Worker B (another data
dir, empty) takes the task over: it rebuilds the store from the topics before
its first batch, recognises the 30 redelivered events, and labels the rest.
B's store must hold what one worker reading the whole stream would (every
event once, A's examples, gold rows and spend, one spend row per teacher call),
and the teacher must have answered each input once.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devkit.sim.teacher_server import SimTeacherServer
from distillery.events import InferenceEvent
from distillery.settings import Settings
from streams.app import ingest_group
from streams.restore_kafka import partition_for
from streams.store.db import store_path

TASK = "transactions"
REWIND = 30


def _text(i: int) -> str:
    """An input unlike every other (the deduper masks digits, so the letters differ)."""
    rng = random.Random(1000 + i)
    return " ".join("".join(rng.choice(string.ascii_uppercase) for _ in range(7)) for _ in range(4))


def _events(lo: int, hi: int) -> list[InferenceEvent]:
    """Every 25th event is gold; every 4th was answered by the teacher in production."""
    return [InferenceEvent(event_id=f"tk-{i:05d}", task=TASK, input=_text(i), ts=1_780_000_000_000 + i,
                           label="groceries" if i % 25 == 24 else None,
                           output="groceries" if i % 4 == 1 else None, model="gpt-4.1" if i % 4 == 1 else None)
            for i in range(lo, hi)]


def _teacher_calls_needed(events: list[InferenceEvent]) -> int:
    """One call per event the teacher must answer: neither answered in production nor carrying a pinned answer."""
    return sum(1 for e in events if e.output is None)


async def _produce(s: Settings, events: list[InferenceEvent]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=s.kafka.bootstrap_servers, linger_ms=10)
    await p.start()
    try:
        for e in events:
            await p.send(s.topics.inference, e.to_json(), key=TASK.encode())
        await p.flush()
    finally:
        await p.stop()


def _query(s: Settings, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(store_path(s, TASK)), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _wait_events(s: Settings, n: int, worker: Any, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    got = 0
    while time.monotonic() < deadline:
        assert worker.poll() is None, Path(worker.log_path).read_text()[-3000:]
        try:
            got = int(_query(s, "SELECT count(DISTINCT event_id) FROM events")[0][0])
        except (duckdb.IOException, duckdb.CatalogException):
            got = 0
        if got >= n:
            return
        time.sleep(1)
    raise AssertionError(f"only {got}/{n} events stored; log:\n{Path(worker.log_path).read_text()[-3000:]}")


def _state(s: Settings) -> dict[str, Any]:
    return {
        "examples": sorted(_query(s, "SELECT event_id, label, source FROM examples")),
        "gold": sorted(_query(s, "SELECT gold_id, label, teacher_label FROM gold")),
        "spend": dict(_query(s, "SELECT event_id, cost_usd FROM spend")),
        "review": sorted(_query(s, "SELECT event_id FROM review")),
        "outcomes": dict(_query(s, "SELECT event_id, outcome FROM events")),
    }


async def _rewind(s: Settings, by: int) -> int:
    """Set the group's committed offset of the task's partition ``by`` events back; return the new offset."""
    c = AIOKafkaConsumer(bootstrap_servers=s.kafka.bootstrap_servers, group_id=ingest_group(s),
                         enable_auto_commit=False)
    await c.start()
    try:
        tp = TopicPartition(s.topics.inference, partition_for(TASK, s.kafka.partitions))
        c.assign([tp])
        committed = await c.committed(tp)
        assert committed is not None and committed > by
        await c.commit({tp: committed - by})
        return committed - by
    finally:
        await c.stop()


@pytest.fixture
def teacher():
    server = SimTeacherServer(latency_s=0.01)
    with server.run_in_thread() as running:
        yield running


def test_a_task_moves_to_a_worker_with_another_disk_with_its_state(
    kafka_settings, spawn_worker, teacher, derived_config, tmp_path: Path
) -> None:
    s = kafka_settings()
    host_a = s.with_overrides(data_dir=tmp_path / "host-a")
    host_b = s.with_overrides(data_dir=tmp_path / "host-b")
    config = derived_config({"base_rate = 0.2": "base_rate = 1.0"})
    first, second = _events(0, 150), _events(150, 250)

    a = spawn_worker(host_a, "streams", config=config, OPENAI_BASE_URL=teacher.base_url)
    asyncio.run(_produce(s, first))
    _wait_events(host_a, len(first), a)
    time.sleep(4)  # A commits its offsets and empties its outbox
    a.terminate()
    a.wait(60)
    at_a = _state(host_a)
    calls_a = teacher.count("/v1/chat/completions")
    assert calls_a == _teacher_calls_needed(first)
    assert len(at_a["gold"]) == 6 and at_a["examples"] and at_a["spend"]

    asyncio.run(_rewind(s, REWIND))  # A published and stored these 30, as if killed before committing them
    b = spawn_worker(host_b, "streams", config=config, OPENAI_BASE_URL=teacher.base_url)
    asyncio.run(_produce(s, second))
    _wait_events(host_b, len(first) + len(second), b)
    time.sleep(2)
    b.terminate()
    b.wait(60)
    at_b = _state(host_b)
    log = Path(b.log_path).read_text()

    # the teacher answered each input once: A's calls, then only B's new events
    assert teacher.count("/v1/chat/completions") == _teacher_calls_needed(first + second)
    assert "store restored from Kafka" in log
    # every event once, and what A held is in B's store as A held it
    assert set(at_b["outcomes"]) == {e.event_id for e in first + second}
    assert {k: v for k, v in at_b["outcomes"].items() if k in at_a["outcomes"]} == at_a["outcomes"]
    assert set(at_a["examples"]) <= set(at_b["examples"])
    assert len(at_b["examples"]) == sum(1 for o in at_b["outcomes"].values() if o == "labeled")
    assert set(at_a["review"]) <= set(at_b["review"])
    # the gold set is the stream's, with A's pinned answers kept
    assert {g[0] for g in at_b["gold"]} == {e.event_id for e in first + second if e.label is not None}
    assert set(at_a["gold"]) <= set(at_b["gold"])
    # spend: one row per teacher call, A's exactly as A recorded them
    assert len(at_b["spend"]) == teacher.count("/v1/chat/completions")
    assert {k: at_b["spend"][k] for k in at_a["spend"]} == pytest.approx(at_a["spend"])
