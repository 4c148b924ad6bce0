"""A task's store rebuilt from its topics by a worker with its own disk (issue #14, part 4).

Worker A labels a stream and publishes its records; worker B, with a separate
data dir, reads those records back (a fake restorer stands in for the Kafka
reader) before its first batch. B's store must hold what A's held, the events A
already labeled must not reach the teacher again, and B's budget must start
from A's spend.
"""

from __future__ import annotations

import random
import string
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiokafka.structs import ConsumerRecord
from hostile_support import FakeLabeler, FakeTeacher, settings_for

from distillery.counters import Counters
from distillery.events import GoldExample, InferenceEvent, ReviewDecision, TrainJob
from distillery.settings import Settings
from streams.app import BatchHandler
from streams.consumer import Batch
from streams.pipeline import Pipeline
from streams.restore import KINDS, Fetched, apply, positions
from streams.source import Source


class Log:
    """A broker for ``send`` that keeps every record per topic, in order (offsets are list indexes)."""

    def __init__(self) -> None:
        self.topics: dict[str, list[tuple[bytes, bytes]]] = {}

    async def send(self, topic: str, key: bytes, value: bytes) -> Any:
        records = self.topics.setdefault(topic, [])
        records.append((key, value))
        meta = SimpleNamespace(topic=topic, partition=0, offset=len(records) - 1)

        async def done() -> SimpleNamespace:
            return meta

        return done()


class Restorer:
    """Serves a :class:`Log` the way :class:`streams.restore_kafka.TopicReader` serves Kafka."""

    def __init__(self, settings: Settings, log: Log, inference_end: int) -> None:
        t = settings.topics
        names = {"pending": t.pending, "labeled": t.labeled, "review": t.review, "gold": t.gold,
                 "reviewed": t.reviewed, "train_jobs": t.train_jobs}
        self.names = {kind: names[kind] for kind in KINDS}
        self.log = log
        self.inference_end = inference_end
        self.calls: list[dict[tuple[str, int], int]] = []

    async def __call__(self, task: str, since: dict[tuple[str, int], int]) -> Fetched:
        self.calls.append(dict(since))
        out = Fetched(inference_mark=(0, self.inference_end - 1))
        for kind, name in self.names.items():
            records = self.log.topics.get(name, [])
            start = since.get((name, 0), 0)
            for offset in range(start, len(records)):
                key, value = records[offset]
                if key == task.encode():
                    out.records.append((kind, value, Source(name, 0, offset)))
            out.ends[(name, 0)] = max(start, len(records))
        return out


def _text(i: int) -> str:
    """A merchant line unlike any other (digits are masked by the deduper, so letters differ)."""
    rng = random.Random(i)
    return " ".join("".join(rng.choice(string.ascii_uppercase) for _ in range(7)) for _ in range(4))


def _events(lo: int, hi: int) -> list[InferenceEvent]:
    """Distinct inputs; every 7th event is gold, every 5th was answered by the teacher in production."""
    return [InferenceEvent(event_id=f"ev-{i}", task="transactions", input=_text(i),
                           ts=1_780_000_000_000 + i, label="groceries" if i % 7 == 6 else None,
                           output="groceries" if i % 5 == 1 else None, model="gpt-4.1" if i % 5 == 1 else None)
            for i in range(lo, hi)]


def _batch(events: list[InferenceEvent], topic: str, first_offset: int) -> Batch:
    return Batch([ConsumerRecord(topic, 0, first_offset + i, 0, 0, b"transactions", e.to_json(), None, 0, 0, [])
                  for i, e in enumerate(events)])


def _state(p: Pipeline) -> tuple[Any, ...]:
    store = p.store("transactions")
    return (
        sorted(store.query("SELECT event_id, label, source, split FROM examples")),
        sorted(store.query("SELECT gold_id, label, teacher_label FROM gold")),
        round(float(store.scalar("SELECT coalesce(sum(cost_usd), 0) FROM spend")), 9),
        store.scalar("SELECT count(*) FROM spend"),
        sorted(store.query("SELECT event_id, status FROM review")),
    )


async def test_a_new_owner_rebuilds_the_store_and_never_asks_the_teacher_twice(tmp_path: Path) -> None:
    a_settings, b_settings, ref_settings = (settings_for(tmp_path / n) for n in ("a", "b", "ref"))
    topics = a_settings.topics
    events = _events(0, 60)
    log, teacher = Log(), FakeTeacher(list(a_settings.task("transactions").labels))

    # the reference: one worker that reads the whole stream
    ref_teacher = FakeTeacher(list(a_settings.task("transactions").labels))
    ref = Pipeline(ref_settings, Counters("streams"), teacher_factory=lambda task: ref_teacher)  # type: ignore[arg-type,return-value]
    try:
        await BatchHandler(ref, topics, Log().send)(_batch(events[:40], topics.inference, 0))
        await BatchHandler(ref, topics, Log().send)(_batch(events[40:], topics.inference, 40))
        expected = _state(ref)
    finally:
        await ref.close()

    a = Pipeline(a_settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        await BatchHandler(a, topics, log.send)(_batch(events[:40], topics.inference, 0))
        spent_a = a.sampler.task("transactions").budget.spent_hour
    finally:
        await a.close()
    calls_a = teacher.calls
    assert calls_a > 0 and spent_a > 0

    # A stopped before committing events 30..39: B gets them again, then the rest of the stream
    restorer = Restorer(b_settings, log, inference_end=40)
    b = Pipeline(b_settings, Counters("streams"), teacher_factory=lambda task: teacher,  # type: ignore[arg-type,return-value]
                 restorer=restorer)
    try:
        await BatchHandler(b, topics, log.send)(_batch(events[30:], topics.inference, 30))
        assert b.counters.get("transactions", "redelivered") == 10
        assert b.counters.get("transactions", "restored_gold") == 5  # ev-6, 13, 20, 27, 34
        assert _state(b) == expected
        assert b.sampler.task("transactions").budget.spent_hour >= spent_a
    finally:
        await b.close()
    assert teacher.calls - calls_a == ref_teacher.calls - calls_a  # only the 20 new events (and their gold)
    assert restorer.calls == [{}]  # a new store reads from the beginning, once per assignment


async def test_a_second_restore_reads_from_where_the_first_stopped_and_changes_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "a")
    topics = settings.topics
    log, teacher = Log(), FakeTeacher(list(settings.task("transactions").labels))
    a = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        await BatchHandler(a, topics, log.send)(_batch(_events(0, 20), topics.inference, 0))
    finally:
        await a.close()

    b_settings = settings_for(tmp_path / "b")
    restorer = Restorer(b_settings, log, inference_end=20)
    b = Pipeline(b_settings, Counters("streams"), restorer=restorer)
    try:
        await b.ensure_restored("transactions")
        first = _state(b)
        store = b.store("transactions")
        since = positions(store)
        assert since[(topics.labeled, 0)] == len(log.topics[topics.labeled])
        job = TrainJob(task="transactions", job_id="transactions-0123456789abcdef", snapshot_uri="file:///s.parquet",
                       snapshot_sha256="0" * 64, n_train=12, reason="count")
        await (await log.send(topics.train_jobs, job.key(), job.to_json()))
        again = await restorer("transactions", {})  # every record once more: idempotent
        apply(b_settings, "transactions", store, again)
        assert _state(b) == first
        since = positions(store)
        b.revoked()
        await b.ensure_restored("transactions")
        assert restorer.calls[-1] == since
        assert store.query("SELECT job_id, n_train, published FROM snapshots") == [(job.job_id, 12, True)]
        # what B publishes itself is not read back after the next rebalance
        b.teacher_factory = lambda task: teacher  # type: ignore[assignment,return-value]
        await BatchHandler(b, topics, log.send)(_batch(_events(20, 30), topics.inference, 20))
        b.revoked()
        after = positions(store)
        assert after[(topics.labeled, 0)] == len(log.topics[topics.labeled]) > since[(topics.labeled, 0)]
        await b.ensure_restored("transactions")
        assert restorer.calls[-1] == after
    finally:
        await b.close()


async def test_review_decisions_are_replayed_after_their_items(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "a")
    topics = settings.topics
    log, teacher = Log(), FakeTeacher(list(settings.task("transactions").labels))
    a = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        await BatchHandler(a, topics, log.send)(_batch(_events(0, 20), topics.inference, 0))
        store = a.store("transactions")
        teacher_ids = sorted(r[0] for r in store.query("SELECT event_id FROM examples WHERE source = 'teacher'"))
        corrected, promoted = teacher_ids[0], teacher_ids[1]
        decisions = [ReviewDecision(task="transactions", item_id=corrected, decision="correct", answer="hotels_lodging",
                                    reviewer="ana"),
                     ReviewDecision(task="transactions", item_id=promoted, decision="promote_gold", reviewer="ana"),
                     ReviewDecision(task="transactions", item_id="nope", decision="skip", reviewer="ana")]
        for d in decisions:
            await (await log.send(topics.reviewed, d.key(), d.to_json()))
        handler = BatchHandler(a, topics, log.send)
        await handler(Batch([ConsumerRecord(topics.reviewed, 0, i, 0, 0, b"transactions", d.to_json(), None, 0, 0,
                                            []) for i, d in enumerate(decisions)]))
        expected = _state(a)
    finally:
        await a.close()

    b_settings = settings_for(tmp_path / "b")
    b = Pipeline(b_settings, Counters("streams"), restorer=Restorer(b_settings, log, inference_end=20))
    try:
        await b.ensure_restored("transactions")
        assert _state(b) == expected
        human = b.store("transactions").query("SELECT event_id, label FROM examples WHERE source = 'human'")
        assert human == [(corrected, "hotels_lodging")]
        assert b.store("transactions").scalar("SELECT count(*) FROM gold WHERE gold_id = ?", [promoted]) == 1
    finally:
        await b.close()


async def test_events_waiting_for_a_batch_job_move_with_the_task_and_the_job_is_collected_not_resubmitted(
        tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "a", batch=True)
    topics = settings.topics
    log, teacher = Log(), FakeTeacher(list(settings.task("transactions").labels))
    events = [e for e in _events(0, 12) if e.label is None and e.output is None]
    running = FakeLabeler(teacher, {"retrieve": ["in_progress"]})
    a = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher,  # type: ignore[arg-type,return-value]
                 labeler_factory=lambda client: running)  # type: ignore[arg-type,return-value]
    try:
        handler = BatchHandler(a, topics, log.send)
        await handler(_batch(events, topics.inference, 0))
        await handler.poll_batches()  # submitted as batch-0, not finished when A lets go
        assert list(running.submitted) == ["batch-0"]
        assert len(log.topics[topics.pending]) == 2 * len(events), {k: len(v) for k, v in log.topics.items()}
        assert a.store("transactions").outbox() == []
    finally:
        await a.close()
    assert teacher.calls == 0

    b_settings = settings_for(tmp_path / "b", batch=True)
    finished = FakeLabeler(teacher, {})
    b = Pipeline(b_settings, Counters("streams"), teacher_factory=lambda task: teacher,  # type: ignore[arg-type,return-value]
                 labeler_factory=lambda client: finished,  # type: ignore[arg-type,return-value]
                 restorer=Restorer(b_settings, log, inference_end=len(events)))
    try:
        handler = BatchHandler(b, topics, log.send)
        await handler(_batch(events, topics.inference, 0))  # redelivered: all known, none pending twice
        store = b.store("transactions")
        assert store.query("SELECT DISTINCT batch_id FROM pending") == [("batch-0",)]
        assert b.counters.get("transactions", "redelivered") == len(events)
        await handler.poll_batches()
        assert finished.submitted == {}  # the job A submitted is collected, not sent again
        assert store.scalar("SELECT count(*) FROM pending") == 0
        outcomes = dict(store.query("SELECT event_id, outcome FROM events"))
        assert set(outcomes) == {e.event_id for e in events} and "pending_batch" not in outcomes.values()
        assert store.scalar("SELECT count(*) FROM spend WHERE batch") == len(events)
    finally:
        await b.close()
    assert teacher.calls == len(events)  # the job's answers, once each

    # A gets the task back: the labels B published end A's waits too
    a2 = Pipeline(settings, Counters("streams"), restorer=Restorer(settings, log, inference_end=len(events)))
    try:
        await a2.ensure_restored("transactions")
        assert a2.store("transactions").scalar("SELECT count(*) FROM pending") == 0
        assert a2.store("transactions").scalar(
            "SELECT count(*) FROM events WHERE outcome = 'pending_batch'") == 0
    finally:
        await a2.close()


async def test_a_store_from_before_the_gold_topic_publishes_its_gold_rows_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "a")
    topics = settings.topics
    teacher = FakeTeacher(list(settings.task("transactions").labels))
    old = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:  # no restorer: the worker as it was, whose gold records never reached a topic
        await BatchHandler(old, topics, Log().send)(_batch(_events(0, 30), topics.inference, 0))
        gold = sorted(old.store("transactions").query("SELECT gold_id FROM gold"))
    finally:
        await old.close()
    assert len(gold) == 4

    log = Log()
    new = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher,  # type: ignore[arg-type,return-value]
                   restorer=Restorer(settings, log, inference_end=30))
    try:
        handler = BatchHandler(new, topics, log.send)
        await handler(_batch(_events(30, 31), topics.inference, 30))
        published = sorted((GoldExample.model_validate_json(v).gold_id,) for _, v in log.topics[topics.gold])
        assert published == gold
        new.revoked()
        await handler(_batch(_events(31, 32), topics.inference, 31))
        assert len(log.topics[topics.gold]) == len(gold)  # once per store
    finally:
        await new.close()
