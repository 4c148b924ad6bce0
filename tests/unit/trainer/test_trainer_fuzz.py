"""The trainer worker fed hostile ``train.jobs`` records (issue #13).

Records generated from the contract's schema (``hostile_strategies``) on three
partitions go through the worker's own :meth:`TrainerWorker._handle`, driven as
its loop drives it, with a fake consumer that behaves as aiokafka's does
(``getmany`` returns what every unpaused partition holds, ``pause``/``resume``/
``seek`` refuse a partition no longer assigned) and a fake producer. ``run_job``
is a fast fake that follows a script: a verdict, an exception, or the job's
partition revoked mid-job (a rebalance). Properties:

* nothing raises out of ``_handle``;
* every record ends committed exactly once, in order, on its partition (none
  skipped over, none committed twice), either skipped (not a job, unknown task,
  already done) or after its verdict is on Kafka;
* every valid job of a known task gets exactly one verdict over the whole run; a
  job that raised ``JOB_ATTEMPTS`` times is rejected with failed rule ``error``.

The adapter topics the worker reads again before each job are the verdicts the
fake producer holds (``Harness.read_book``): in process, no broker.

Thousands of examples in the suite (1,000-2,000 a consumer); ``FUZZ_EXAMPLES`` for the long run (``make fuzz``).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from aiokafka.structs import ConsumerRecord
from hostile_strategies import (
    FUZZ_EXAMPLES,
    fuzz_profile,
    load_schema,
    message_values,
    run_fuzz,
    strings,
    valid_strings,
)
from hypothesis import given
from hypothesis import strategies as st

import trainer.worker as worker_module
from distillery.adapter_book import AdapterBook
from distillery.adapter_history import adapter_models
from distillery.events import AdapterPublished, AdapterRejected, GateMetrics, ModelScores, TrainJob
from trainer.worker import JOB_ATTEMPTS, TrainerWorker, _Revocations

PROFILE = fuzz_profile("trainer", 2_000)
PARTITIONS = 3


class FakeConsumer:
    """The parts of ``AIOKafkaConsumer`` the worker uses, with aiokafka's rules for paused and revoked partitions."""

    def __init__(self, topic: str, records: dict[int, list[bytes | None]], worker: TrainerWorker) -> None:
        self.records = {TopicPartition(topic, p): values for p, values in records.items()}
        self.assigned = set(self.records)
        self.position = {tp: 0 for tp in self.records}
        self.paused: set[TopicPartition] = set()
        self.commits: dict[TopicPartition, list[int]] = collections.defaultdict(list)
        self.listener = _Revocations(worker)
        self.revoke_next = threading.Event()

    def _check(self, tp: TopicPartition) -> None:
        if tp not in self.assigned:
            raise IllegalStateError(f"No current assignment for partition {tp}")

    def pause(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self._check(tp)
            self.paused.add(tp)

    def resume(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self._check(tp)
            self.paused.discard(tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._check(tp)
        self.position[tp] = offset

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            self._check(tp)
            self.commits[tp].append(offset)

    def committed(self, tp: TopicPartition) -> int:
        return self.commits[tp][-1] if self.commits[tp] else 0

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0.0005)
        if self.revoke_next.is_set():  # a rebalance: the job's partition goes to another member
            self.revoke_next.clear()
            revoked = [tp for tp in self.assigned if tp in self.paused]
            await self.listener.on_partitions_revoked(revoked)
            self.assigned -= set(revoked)
            self.paused -= set(revoked)
        out: dict[TopicPartition, list[Any]] = {}
        budget = max_records if max_records is not None else 10**9
        for tp in sorted(self.assigned - self.paused):
            values = self.records[tp]
            while self.position[tp] < len(values) and budget > 0:
                offset = self.position[tp]
                value = values[offset]
                out.setdefault(tp, []).append(ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, value, None,
                                                             0, len(value or b""), []))
                self.position[tp] += 1
                budget -= 1
        return out

    def pending(self) -> bool:
        return any(self.position[tp] < len(self.records[tp]) for tp in self.assigned - self.paused)

    def reassign(self) -> bool:
        """Partitions lost in a rebalance come back (here or to a peer) from their committed offset."""
        lost = set(self.records) - self.assigned
        for tp in lost:
            self.assigned.add(tp)
            self.position[tp] = self.committed(tp)
        return bool(lost)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.sent.append((topic, value))


METRICS = GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1))


class FakeJobs:
    """``run_job`` that follows a script (drawn per example): publish, reject, raise, or lose the partition."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.consumer: FakeConsumer | None = None
        self.calls = 0
        self.ids = itertools.count()

    def __call__(self, job: TrainJob, settings: Any, **kwargs: Any) -> AdapterPublished | AdapterRejected:
        self.calls += 1
        step = self.script.pop(0) if self.script else "reject"
        if step == "raise":
            raise RuntimeError("CUDA out of memory; token=sk-secret-0123456789abcdef0123")
        if step == "revoke":
            assert self.consumer is not None
            self.consumer.revoke_next.set()
        if step == "publish":
            return AdapterPublished(task=job.task, adapter_id=f"ad-{next(self.ids)}", job_id=job.job_id, uri="/x",
                                    sha256="0" * 64, base_model="b", student_prompt="", metrics=METRICS)
        return AdapterRejected(task=job.task, job_id=job.job_id, reason="gate", failed_rules=["accuracy"])


DUP_IDS = st.sampled_from(["job-1", "job-2", "job-3"])
_FRESH = itertools.count()
JOB_FIELDS = {"task": st.one_of(st.sampled_from(["transactions", "nope"]), strings(0, 64)),
              "job_id": st.one_of(DUP_IDS, strings(0, 600))}
VALID_JOB = {"task": st.sampled_from(["transactions", "transactions", "transactions", "nope"]),
             "job_id": st.one_of(st.uuids().map(lambda u: f"{u}-{next(_FRESH)}"), DUP_IDS, valid_strings(1, 512))}
JOBS = message_values(load_schema("train.jobs"), overrides=JOB_FIELDS, valid_overrides=VALID_JOB)
SCRIPT = st.lists(st.sampled_from(["publish", "reject", "raise", "raise", "raise", "revoke"]), max_size=10)


class Harness:
    def __init__(self, settings: Any, jobs: FakeJobs) -> None:
        self.settings = settings
        self.worker = TrainerWorker(settings)
        self.producer = FakeProducer()
        self.jobs = jobs
        self.loop = asyncio.new_event_loop()
        self.verdicts: collections.Counter[str] = collections.Counter()
        self.figures: collections.Counter[str] = collections.Counter()

    def close(self) -> None:
        self.loop.close()

    async def read_book(self, settings: Any, **_: Any) -> AdapterBook:
        """The adapter topics as this example's producer filled them (the worker reads them before each job)."""
        models = adapter_models(settings.topics)
        book = AdapterBook()
        for topic, value in self.producer.sent:
            if topic in models:
                book.apply(models[topic].model_validate_json(value))
        return book

    def run(self, records: dict[int, list[bytes | None]], script: list[str]) -> None:
        topic = self.settings.topics.train_jobs
        consumer = FakeConsumer(topic, records, self.worker)
        self.jobs.consumer, self.jobs.script = consumer, list(script)
        stop = asyncio.Event()
        sent_before = len(self.producer.sent)
        done_before = set(self.worker.done)

        async def drive() -> None:  # as TrainerWorker.run does, with rebalances handing partitions back
            for _ in range(10_000):
                if not consumer.pending() and not consumer.reassign():
                    return
                batch = await consumer.getmany(timeout_ms=1000, max_records=1)
                for tp, recs in batch.items():
                    for rec in recs:
                        await self.worker._handle(consumer, self.producer, tp, rec.offset, rec.value, stop)  # type: ignore[arg-type]
            raise AssertionError("the worker does not get through its partitions")

        self.loop.run_until_complete(drive())

        for tp, values in consumer.records.items():
            assert consumer.commits[tp] == list(range(1, len(values) + 1)), \
                f"{tp}: commits {consumer.commits[tp]} for {len(values)} records"
        verdicts = [(t, json.loads(v)) for t, v in self.producer.sent[sent_before:]
                    if t in (self.settings.topics.published, self.settings.topics.rejected)]
        for topic_name, verdict in verdicts:
            model = AdapterPublished if topic_name == self.settings.topics.published else AdapterRejected
            model.model_validate(verdict)
            self.verdicts[verdict["job_id"]] += 1
            assert self.verdicts[verdict["job_id"]] == 1, f"job {verdict['job_id']!r}: a second verdict"
            if verdict.get("failed_rules") == ["error"]:
                assert "sk-secret" not in verdict["reason"]
                self.figures["rejected_error"] += 1
        for values in records.values():
            for value in values:
                try:
                    job = TrainJob.model_validate_json(value or b"")
                except ValueError:
                    self.figures["not_a_job"] += 1
                    continue
                if job.task not in self.settings.tasks:
                    self.figures["unknown_task"] += 1
                elif job.job_id in done_before:
                    self.figures["already_done"] += 1
                else:
                    assert self.verdicts[job.job_id] == 1, f"job {job.job_id!r} has no verdict"
                    self.figures["judged"] += 1
        assert self.worker.current is None and not self.worker.attempts
        self.figures.update(examples=1, records=sum(len(v) for v in records.values()), verdicts=len(verdicts))
        self.producer.sent.clear()  # a long run: keep memory flat


@pytest.mark.timeout(0 if FUZZ_EXAMPLES else 900)  # a hang guard sized for the suite's examples
def test_train_jobs_never_stop_the_trainer_and_each_ends_committed_once(
        settings_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    jobs = FakeJobs()
    monkeypatch.setattr(worker_module, "run_job", jobs)
    monkeypatch.setattr(worker_module, "RETRY_PAUSE_S", 0.0)
    harness = Harness(settings_factory(), jobs)
    monkeypatch.setattr(worker_module, "read_book", harness.read_book)
    partitions = st.dictionaries(st.integers(0, PARTITIONS - 1), st.lists(JOBS, min_size=1, max_size=4),
                                 min_size=1, max_size=PARTITIONS)

    @PROFILE
    @given(records=partitions, script=SCRIPT)
    def one_example(records: dict[int, list[bytes | None]], script: list[str]) -> None:
        harness.run(records, script)

    try:
        run_fuzz(one_example)
    finally:
        harness.close()
        print("\nfuzz train.jobs:", json.dumps({**harness.figures, "run_job_calls": jobs.calls}))
    assert harness.figures["judged"] > 0 and harness.figures["not_a_job"] > 0
    assert harness.figures["rejected_error"] > 0 and harness.figures["already_done"] > 0
    assert JOB_ATTEMPTS > 1


def _job(job_id: str) -> bytes:
    return TrainJob(task="transactions", job_id=job_id, snapshot_uri="file:///s.parquet",
                    snapshot_sha256="0" * 64).to_json()


@pytest.mark.parametrize("script", [["reject", "reject"], ["revoke", "reject", "reject"],
                                    ["raise", "revoke", "reject", "reject"]])
def test_jobs_on_other_partitions_wait_and_a_revoked_partition_is_left_alone(
        settings_factory: Any, monkeypatch: pytest.MonkeyPatch, script: list[str]) -> None:
    """Found by the fuzzer: the job of partition 1, fetched while partition 0's trained, was dropped (and
    committed past with the next one); a partition revoked mid-job made ``resume``/``seek`` raise."""
    jobs = FakeJobs()
    monkeypatch.setattr(worker_module, "run_job", jobs)
    monkeypatch.setattr(worker_module, "RETRY_PAUSE_S", 0.0)
    harness = Harness(settings_factory(), jobs)
    monkeypatch.setattr(worker_module, "read_book", harness.read_book)
    try:
        harness.run({0: [_job("a")], 1: [_job("b")]}, script)  # asserts every record committed once, in order
    finally:
        harness.close()
    assert harness.verdicts == {"a": 1, "b": 1}
