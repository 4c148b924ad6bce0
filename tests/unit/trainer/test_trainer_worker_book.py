"""The trainer compares candidates with the adapter serving serves (issue #16).

Before: the trainer folded the adapter topics with a copy of the rules of its
own. It applied every publish before every control record (a rollback popped
an adapter published after it), appended a redelivered adapter id a second
time, and made its own new adapter production even while the task was pinned.
Now it reads the contract's :class:`~distillery.adapter_book.AdapterBook`, the
one serving's subscriber and ``distillery adapters list`` fold, so each case
below has one answer, and the trainer's matches serving's.

The topics are an in-memory stand-in (records with a topic, a partition, an
offset, a timestamp and a value); no broker is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

import distillery.adapter_history as adapter_history
import trainer.worker as trainer_worker
from distillery.adapter_book import AdapterBook
from distillery.adapter_history import read_book
from distillery.events import AdapterControl, AdapterPublished, GateMetrics, ModelScores, Record, TrainJob
from distillery.settings import Settings
from trainer.job import Production
from trainer.worker import TrainerWorker

TASK = "transactions"
METRICS = GateMetrics(gold_size=10, candidate=ModelScores(n=10, accuracy=0.9))


def pub(adapter_id: str) -> AdapterPublished:
    return AdapterPublished(task=TASK, adapter_id=adapter_id, job_id=f"job-{adapter_id}", uri=f"/a/{adapter_id}",
                            sha256="0" * 64, base_model="b", student_prompt="p", metrics=METRICS)


def ctl(action: str, adapter_id: str | None = None) -> AdapterControl:
    return AdapterControl(task=TASK, action=action, adapter_id=adapter_id)  # type: ignore[arg-type]


class Topics:
    """An in-memory broker: each record stamped with the time it was produced (1, 2, 3...)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.records: dict[str, list[SimpleNamespace]] = {}
        self.clock = 0

    def produce(self, topic: str, value: bytes) -> None:
        self.clock += 1
        got = self.records.setdefault(topic, [])
        got.append(SimpleNamespace(topic=topic, partition=0, offset=len(got), timestamp=self.clock, value=value))

    def add(self, *records: Record) -> None:
        for r in records:
            self.produce(self.settings.topics.name(r.topic_name), r.to_json())

    async def read_topic(self, kafka: Any, topic: str, **_: Any) -> list[SimpleNamespace]:
        return list(self.records.get(topic, []))

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.produce(topic, value)


@pytest.fixture
def topics(settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> Topics:
    fake = Topics(settings_factory())

    async def no_topics(settings: Settings, names: Any = None) -> list[str]:
        return []

    monkeypatch.setattr(adapter_history, "read_topic", fake.read_topic)
    monkeypatch.setattr(adapter_history, "ensure_topics", no_topics)
    return fake


def served(topics: Topics) -> tuple[str | None, str | None]:
    """(what the trainer compares with, what serving serves), both read from the topics."""
    worker = TrainerWorker(topics.settings)
    asyncio.run(worker.load_history())
    book: AdapterBook = asyncio.run(read_book(topics.settings))
    mine, theirs = worker.production(TASK), book.chosen(TASK)
    return (mine.adapter_id if mine else None), (theirs.adapter_id if theirs else None)


def test_a_rollback_pops_what_was_published_before_it_not_after(topics: Topics) -> None:
    topics.add(pub("a1"), pub("a2"), ctl("rollback"), pub("a3"))
    # the old copy: every publish first ([a1, a2, a3]), then the rollback popped a3 and served a2
    assert served(topics) == ("a3", "a3")


def test_a_redelivered_adapter_is_not_counted_twice(topics: Topics) -> None:
    topics.add(pub("a1"), pub("a2"), pub("a1"), ctl("rollback"))
    # the old copy: history [a1, a2, a1], the rollback popped the redelivered a1 and served a2
    assert served(topics) == ("a1", "a1")


def test_a_pin_survives_a_later_unpinned_history(topics: Topics) -> None:
    topics.add(pub("a1"), pub("a2"), ctl("pin", "a1"), pub("a3"))
    assert served(topics) == ("a1", "a1")


def test_before_any_adapter_both_serve_nothing(topics: Topics) -> None:
    assert served(topics) == (None, None)


class FakeConsumer:
    def __init__(self) -> None:
        self.committed: dict[TopicPartition, int] = {}

    def pause(self, tp: TopicPartition) -> None: ...

    def resume(self, tp: TopicPartition) -> None: ...

    def seek(self, tp: TopicPartition, offset: int) -> None: ...

    async def getmany(self, timeout_ms: int = 0, **_: Any) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0.01)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The production adapter each job was compared with; every job promotes ``new-<job id>``."""
    seen: list[str | None] = []

    def run_job(job: TrainJob, settings: Settings, *, production: Production | None, status: Any) -> AdapterPublished:
        seen.append(production.adapter_id if production else None)
        return pub(f"new-{job.job_id}")

    monkeypatch.setattr(trainer_worker, "run_job", run_job)
    return seen


def run_jobs(worker: TrainerWorker, topics: Topics, consumer: FakeConsumer, *job_ids: str) -> None:
    """Hand the worker one train job per id, in order, as its loop does."""
    tp = TopicPartition(topics.settings.topics.train_jobs, 0)

    async def handle() -> None:
        await worker.load_history()
        for offset, job_id in enumerate(job_ids):
            job = TrainJob(task=TASK, job_id=job_id, snapshot_uri="file:///s.parquet", snapshot_sha256="0" * 64,
                           n_train=10, n_eval=1, reason="count")
            await worker._handle(consumer, topics, tp, offset, job.to_json(), asyncio.Event())  # type: ignore[arg-type]

    asyncio.run(handle())


def serving_serves(topics: Topics) -> str | None:
    chosen = asyncio.run(read_book(topics.settings)).chosen(TASK)
    return chosen.adapter_id if chosen else None


def test_a_pinned_task_keeps_its_adapter_after_the_trainer_promotes_a_new_one(
        topics: Topics, compared: list[str | None]) -> None:
    """The old copy made the worker's own new adapter production even while the task was pinned."""
    topics.add(pub("a1"), pub("a2"), ctl("pin", "a1"))
    worker, consumer = TrainerWorker(topics.settings), FakeConsumer()
    run_jobs(worker, topics, consumer, "j1", "j2")
    assert compared == ["a1", "a1"]  # the pin, not new-j1, is what serving serves
    assert worker.production(TASK).adapter_id == "a1" == serving_serves(topics)  # type: ignore[union-attr]
    assert {"job-a1", "job-a2", "j1", "j2"} <= worker.done
    assert consumer.committed == {TopicPartition(topics.settings.topics.train_jobs, 0): 2}


def test_an_unpinned_task_serves_the_trainers_new_adapter_next(topics: Topics, compared: list[str | None]) -> None:
    topics.add(pub("a1"))
    run_jobs(TrainerWorker(topics.settings), topics, FakeConsumer(), "j1", "j2")
    assert compared == ["a1", "new-j1"]
    assert serving_serves(topics) == "new-j2"


def test_a_pin_an_operator_sends_while_the_worker_runs_is_followed_at_the_next_job(
        topics: Topics, compared: list[str | None]) -> None:
    """The old copy read ``adapters.control`` only at start; now the book is read again before each job."""
    topics.add(pub("a1"), pub("a2"))
    worker = TrainerWorker(topics.settings)
    asyncio.run(worker.load_history())
    topics.add(ctl("pin", "a1"))
    run_jobs(worker, topics, FakeConsumer(), "j1")
    assert compared == ["a1"] and serving_serves(topics) == "a1"
