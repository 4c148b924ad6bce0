"""The streams worker end to end on the real broker, with a local teacher server.

Every produced event must end in DuckDB (with its outcome), on the dead-letter
topic, or in review; a forced redelivery adds no row and no teacher call; the
teacher never sees seeded PII; a spent budget stops the calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import duckdb
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devkit.sim.teacher_server import SimTeacherServer
from devkit.sim.transactions import TransactionGenerator
from distillery.events import DeadLetter, InferenceEvent, LabeledExample, TrainJob
from distillery.kafka import read_topic
from distillery.settings import Settings
from streams.store.db import store_path

ROOT = Path(__file__).resolve().parents[3]
PII = ["jane.doe@example.com", "+1 (415) 555-0142", "4111 1111 1111 1111"]


def _events(n: int, *, seed: int = 3, pii_every: int = 10, gold_every: int = 25,
            production_every: int = 4) -> list[InferenceEvent]:
    """Transaction events: some answered in production by the teacher, some gold, some with PII (0: none)."""
    out = []
    for i, (text, category) in enumerate(TransactionGenerator(seed=seed).stream(n)):
        if pii_every and i % pii_every == 0:
            text = f"{text} REF {PII[(i // pii_every) % len(PII)]}"
        gold = bool(gold_every) and i % gold_every == gold_every - 1
        production = bool(production_every) and i % production_every == 1
        out.append(InferenceEvent(
            event_id=f"ev-{seed}-{i:05d}", task="transactions", input=text, ts=1_780_000_000_000 + i,
            label=category if gold else None,
            output=category if production else None, model="gpt-4.1" if production else None,
        ))
    return out


async def _produce(s: Settings, values: list[bytes]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=s.kafka.bootstrap_servers, linger_ms=10)
    await p.start()
    try:
        for v in values:
            await p.send(s.topics.inference, v, key=b"transactions")
        await p.flush()
    finally:
        await p.stop()


def _outcomes(s: Settings) -> dict[str, str]:
    con = duckdb.connect(str(store_path(s, "transactions")), read_only=True)
    try:
        return dict(con.execute("SELECT event_id, outcome FROM events").fetchall())
    finally:
        con.close()


def _wait_outcomes(s: Settings, n: int, worker, timeout: float = 120) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    got: dict[str, str] = {}
    while time.monotonic() < deadline:
        assert worker.poll() is None, Path(worker.log_path).read_text()[-3000:]
        try:
            got = _outcomes(s)
        except (duckdb.IOException, duckdb.CatalogException):
            got = {}
        if len(got) >= n:
            return got
        time.sleep(1)
    raise AssertionError(f"only {len(got)}/{n} events stored; log:\n{Path(worker.log_path).read_text()[-3000:]}")


@pytest.fixture
def teacher():
    server = SimTeacherServer(latency_s=0.01)
    with server.run_in_thread() as running:
        yield running


def test_every_event_is_accounted_for_and_pii_never_reaches_the_teacher(
    kafka_settings, spawn_worker, teacher, derived_config, tmp_path: Path
) -> None:
    s = kafka_settings()
    config = derived_config({"base_rate = 0.2": "base_rate = 0.5", "min_new_examples = 2000": "min_new_examples = 150",
                                  "min_train_examples = 2000": "min_train_examples = 64"})
    events = _events(400)
    bad = [b"\xff\xfe", b'{"event_id": 1}', b"{nope"]
    teacher.faults.rate_limit(3)
    teacher.faults.server_error(2)
    worker = spawn_worker(s, "streams", config=config, OPENAI_BASE_URL=teacher.base_url)
    asyncio.run(_produce(s, [e.to_json() for e in events[:200]] + bad + [e.to_json() for e in events[200:]]))

    outcomes = _wait_outcomes(s, len(events), worker)
    assert set(outcomes) == {e.event_id for e in events}  # every valid event, exactly once
    dls = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.deadletter, expect=len(bad), timeout_s=30))
    assert sorted(DeadLetter.model_validate_json(r.value).original() for r in dls if r.value) == sorted(bad)

    counts: dict[str, int] = {}
    for o in outcomes.values():
        counts[o] = counts.get(o, 0) + 1
    assert counts["gold"] == 16  # every 25th of 400
    assert counts.get("labeled", 0) > 100 and counts.get("skip_rate", 0) > 50
    assert set(counts) <= {"gold", "labeled", "review", "rejected", "skip_rate", "skip_duplicate", "skip_budget"}

    # the teacher was called (through the injected 429s and 500s) and never saw PII
    assert teacher.count("/v1/chat/completions") > 50
    received = teacher.received_text()
    for secret in PII:
        assert secret not in received
    assert "[EMAIL]" in received or "[PHONE]" in received or "[CARD]" in received

    labeled = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.labeled, expect=counts["labeled"],
                                     timeout_s=30))
    examples = [LabeledExample.model_validate_json(r.value) for r in labeled if r.value]
    assert {e.event_id for e in examples} == {k for k, v in outcomes.items() if v == "labeled"}
    assert all(secret not in e.input for e in examples for secret in PII)
    jobs = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.train_jobs, expect=1, timeout_s=30))
    job = TrainJob.model_validate_json(jobs[0].value or b"")
    assert job.reason == "count" and job.n_train >= 64 and Path(job.snapshot_uri.removeprefix("file://")).exists()


def test_forced_redelivery_adds_no_rows_and_no_teacher_calls(
    kafka_settings, spawn_worker, teacher, derived_config, tmp_path: Path
) -> None:
    s = kafka_settings()
    config = derived_config({"base_rate = 0.2": "base_rate = 1.0"})
    events = _events(150, seed=5)
    worker = spawn_worker(s, "streams", config=config, OPENAI_BASE_URL=teacher.base_url)
    asyncio.run(_produce(s, [e.to_json() for e in events]))
    first = _wait_outcomes(s, len(events), worker)
    time.sleep(3)  # let the worker commit its offsets
    calls = teacher.count("/v1/chat/completions")
    assert calls > 0
    worker.terminate()
    worker.wait(60)

    async def rewind() -> None:
        group = f"{s.topic_prefix}distillery-streams"
        c = AIOKafkaConsumer(bootstrap_servers=s.kafka.bootstrap_servers, group_id=group, enable_auto_commit=False)
        await c.start()
        try:
            parts = [TopicPartition(s.topics.inference, p) for p in range(s.kafka.partitions)]
            c.assign(parts)
            await c.commit({tp: 0 for tp in parts})
        finally:
            await c.stop()

    asyncio.run(rewind())
    worker2 = spawn_worker(s, "streams", config=config, OPENAI_BASE_URL=teacher.base_url)
    deadline = time.monotonic() + 90
    log = Path(worker2.log_path)
    while time.monotonic() < deadline and _redelivered(s) < len(events):
        time.sleep(1)
    assert _redelivered(s) == len(events)
    assert worker2.poll() is None, log.read_text()[-2000:]
    assert _outcomes(s) == first
    assert teacher.count("/v1/chat/completions") == calls  # no event was labeled twice
    con = duckdb.connect(str(store_path(s, "transactions")), read_only=True)
    try:
        (n_spend,) = con.execute("SELECT count(*) FROM spend").fetchone() or (0,)
    finally:
        con.close()
    assert n_spend == calls  # one spend row per call, none added by the redelivery


def _redelivered(s: Settings) -> int:
    """Events the streams workers recognised as already stored, from their latest counters."""
    snaps = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.counters, idle_s=1.0, timeout_s=4))
    latest = {r.key: json.loads(r.value or b"{}") for r in snaps}
    return int(sum(snap["counts"].get("transactions", {}).get("redelivered", 0) for snap in latest.values()))


def test_spent_budget_stops_teacher_calls(kafka_settings, spawn_worker, teacher, derived_config,
                                         tmp_path: Path) -> None:
    s = kafka_settings()
    # about 0.0001 USD a call at these prices and prompt sizes: 0.002 buys a handful
    config = derived_config({"base_rate = 0.2": "base_rate = 1.0",
                                  "budget_usd_per_hour = 5.0": "budget_usd_per_hour = 0.002"})
    events = [e for e in _events(200, seed=9, production_every=0, gold_every=0)]
    worker = spawn_worker(s, "streams", config=config, OPENAI_BASE_URL=teacher.base_url)
    asyncio.run(_produce(s, [e.to_json() for e in events]))
    outcomes = _wait_outcomes(s, len(events), worker)
    calls = teacher.count("/v1/chat/completions")
    skipped = sum(1 for o in outcomes.values() if o == "skip_budget")
    assert 0 < calls < 40
    assert skipped > 100
    assert "budget" in Path(worker.log_path).read_text().lower()


def test_non_urgent_task_labels_through_the_batch_api_at_half_price(
    kafka_settings, spawn_worker, teacher, derived_config, tmp_path: Path
) -> None:
    s = kafka_settings()
    config = derived_config({
        "base_rate = 0.2": "base_rate = 1.0",
        "concurrency = 16": "concurrency = 16\nbatch = true",
        "[streams]\n": "[streams]\nbatch_poll_seconds = 1.0\n",
    })
    events = _events(60, seed=11, production_every=0, gold_every=0, pii_every=0)
    worker = spawn_worker(s, "streams", config=config, OPENAI_BASE_URL=teacher.base_url)
    asyncio.run(_produce(s, [e.to_json() for e in events]))
    deadline = time.monotonic() + 180
    outcomes: dict[str, str] = {}
    while time.monotonic() < deadline:
        assert worker.poll() is None, Path(worker.log_path).read_text()[-3000:]
        try:
            outcomes = _outcomes(s)
        except (duckdb.IOException, duckdb.CatalogException):
            outcomes = {}
        if len(outcomes) == len(events) and "pending_batch" not in outcomes.values():
            break
        time.sleep(1)
    assert len(outcomes) == len(events) and "pending_batch" not in outcomes.values(), outcomes
    assert teacher.count("/v1/chat/completions") == 0  # nothing went online
    assert teacher.count("/v1/batches") >= 1
    con = duckdb.connect(str(store_path(s, "transactions")), read_only=True)
    try:
        rows = con.execute("SELECT bool_and(batch), sum(cost_usd), sum(prompt_tokens), sum(completion_tokens), "
                           "count(*) FROM spend").fetchone()
        sources = dict(con.execute("SELECT source, count(*) FROM examples GROUP BY 1").fetchall())
        (pending,) = con.execute("SELECT count(*) FROM pending").fetchone() or (0,)
    finally:
        con.close()
    assert rows is not None
    all_batch, cost, p_tok, c_tok, n = rows
    tally: dict[str, int] = {}
    for o in outcomes.values():
        tally[o] = tally.get(o, 0) + 1
    assert all_batch and n == len(events) - sum(v for k, v in tally.items() if k.startswith("skip")), tally
    full_price = (p_tok * 2.0 + c_tok * 8.0) / 1e6  # the task's online prices per million tokens
    assert cost == pytest.approx(full_price / 2, rel=1e-6)
    assert set(sources) == {"teacher_batch"} and pending == 0
