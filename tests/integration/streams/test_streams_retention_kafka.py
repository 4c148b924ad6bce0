"""Retention on the real broker (issue #13): ``ops.counters`` keys stay bounded across restarts with
right totals, and snapshot retention reads the adapter book from the topics before it deletes."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from devkit.sim.teacher_server import SimTeacherServer
from distillery.counters import DAY_MS, Counters, merge
from distillery.counters_topic import read_latest
from distillery.events import AdapterControl, AdapterPublished, AdapterRejected, GateMetrics, ModelScores
from distillery.kafka import make_producer, send_record
from streams.adapter_reader import AdapterReader
from streams.app import prune_snapshots
from streams.pipeline import Pipeline
from streams.store.snapshot import export, mark_published, snapshot_rows
from trainer.worker import TrainerWorker

TASK = "transactions"


def test_a_worker_restarted_twice_keeps_one_key_and_its_totals(kafka_settings) -> None:
    s = kafka_settings().with_overrides(worker_name="trainer-0")
    old_key = "trainer/host-a/4242/1700000000"  # what a restart used to leave behind, a month old
    old = {"worker_id": old_key, "role": "trainer", "started_ms": 0,
           "updated_ms": int(time.time() * 1000) - 30 * DAY_MS, "counts": {TASK: {"jobs_rejected": 7}}}

    async def run() -> dict[str, dict | None]:
        producer = make_producer(s)
        await producer.start()
        try:
            await producer.send_and_wait(s.topics.counters, json.dumps(old).encode(), key=old_key.encode())
            for run_no in range(3):  # the first start, then two restarts: a new worker object each time
                worker = TrainerWorker(s)
                worker.counters.incr(TASK, "jobs_promoted", run_no + 1)  # counted before the read-back ended
                await worker.publish_status(producer, None)  # refused: the last totals are not read back yet
                await worker.resume_counters(producer)  # what TrainerWorker.run does first
                await worker.publish_status(producer, None)
                assert worker.counters.resumed
                assert worker.counters.get(TASK, "jobs_promoted") == sum(range(1, run_no + 2))
        finally:
            await producer.stop()
        return await read_latest(s)

    latest = asyncio.run(run())
    live = {k: v for k, v in latest.items() if v is not None}
    assert sorted(live) == ["trainer/_retired", "trainer/trainer-0"]
    assert latest[old_key] is None  # tombstoned: compaction removes it
    assert merge(list(live.values())) == {TASK: {"jobs_promoted": 6, "jobs_rejected": 7}}


def test_a_streams_worker_process_restarted_twice_adds_no_key_and_counts_on(kafka_settings, spawn_worker) -> None:
    s = kafka_settings()
    key = f"streams/{socket.gethostname()}"

    async def produce(run_no: int) -> None:
        p = AIOKafkaProducer(bootstrap_servers=s.kafka.bootstrap_servers)
        await p.start()
        try:
            for i in range(run_no + 1):  # not JSON: dead-lettered, no teacher call needed
                await p.send_and_wait(s.topics.inference, b"{not json %d" % i, key=b"transactions")
        finally:
            await p.stop()

    old_key = "streams/host-b/99/1700000000"  # a month-old key of an earlier version: retired by the first start
    old = {"worker_id": old_key, "role": "streams", "updated_ms": int(time.time() * 1000) - 30 * DAY_MS,
           "counts": {"_unknown": {"deadlettered": 100}}}

    async def seed() -> None:
        p = AIOKafkaProducer(bootstrap_servers=s.kafka.bootstrap_servers)
        await p.start()
        try:
            await p.send_and_wait(s.topics.counters, json.dumps(old).encode(), key=old_key.encode())
        finally:
            await p.stop()

    asyncio.run(seed())
    expected = 0
    with SimTeacherServer().run_in_thread() as teacher:
        for run_no in range(3):  # the first start, then two restarts
            worker = spawn_worker(s, "streams", OPENAI_BASE_URL=teacher.base_url)
            asyncio.run(produce(run_no))
            expected += run_no + 1
            deadline = time.monotonic() + 90
            latest: dict = {}
            while time.monotonic() < deadline:
                latest = asyncio.run(read_latest(s))
                if ((latest.get(key) or {}).get("counts", {}).get("_unknown", {}).get("deadlettered")) == expected:
                    break
                assert worker.poll() is None, Path(worker.log_path).read_text()[-3000:]
                time.sleep(1)
            worker.terminate()
            worker.wait(30)
            live = sorted(k for k, v in latest.items() if v is not None)
            assert live == sorted([key, "streams/_retired"]), live
            assert latest[old_key] is None
            assert merge([v for v in latest.values() if v]) == {"_unknown": {"deadlettered": expected + 100}}
    assert expected == 6


def _published(i: int, job_id: str) -> AdapterPublished:
    return AdapterPublished(task=TASK, adapter_id=f"ad-{i}", job_id=job_id, uri=f"/a/{i}", sha256="0" * 64,
                            base_model="b", student_prompt="", metrics=GateMetrics(
                                gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))


def test_snapshot_retention_reads_the_book_from_kafka_and_spares_a_pinned_adapters_snapshot(
        kafka_settings, tmp_path: Path) -> None:
    s = kafka_settings()
    s = s.with_overrides(streams=s.streams.model_copy(update={"snapshots_keep": 1}))
    pipeline = Pipeline(s, Counters("streams"))
    store = pipeline.store(TASK)
    jobs = []
    for i in range(4):
        with store.connect() as con:
            con.execute("INSERT INTO examples VALUES (?, ?, 'groceries', 'groceries', 'teacher', 'm', 0.9, NULL, "
                        "'train', 0, 0)", [f"e{i}", f"SHOP {i}"])
        job = export(store, pipeline.artifacts, TASK, reason="count").job
        mark_published(store, job.job_id)
        jobs.append(job)
    with store.connect() as con:
        con.execute("UPDATE snapshots SET created_ms = created_ms - ? WHERE job_id <> ?", [30 * DAY_MS, jobs[3].job_id])
    # j0 and j1 became adapters; j1 was rolled back, then a0 pinned; j2 was rejected; j3 is the newest
    records = [_published(0, jobs[0].job_id), _published(1, jobs[1].job_id),
               AdapterControl(task=TASK, action="rollback"),
               AdapterRejected(task=TASK, job_id=jobs[2].job_id, reason="worse", failed_rules=["accuracy"]),
               AdapterControl(task=TASK, action="pin", adapter_id="ad-0"),
               _published(9, "other-task-job").model_copy(update={"task": "elsewhere"})]
    pipeline.owned.add(TASK)
    pipeline.restored.add(TASK)

    async def run() -> None:
        producer = make_producer(s)
        await producer.start()
        try:
            for rec in records:
                await send_record(producer, s, rec)
        finally:
            await producer.stop()
        reader = AdapterReader(s, timeout_s=30)
        try:
            await prune_snapshots(pipeline, reader)
        finally:
            await reader.close()

    try:
        asyncio.run(run())
        left = [r.job_id for r in snapshot_rows(store)]
        assert left == [jobs[0].job_id, jobs[3].job_id]  # the pinned adapter's and the newest
        assert all(Path(j.snapshot_uri.removeprefix("file://")).exists() == (j.job_id in left) for j in jobs)
        assert pipeline.counters.get(TASK, "snapshots_deleted") == 2
        assert pipeline.snapshots_due() == []  # done for this hour
    finally:
        pipeline.revoked()
