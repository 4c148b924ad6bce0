"""Review decisions through the real broker: produced to ``distill.reviewed``, read back by the
streams worker's batch handler, applied to the owner's store, refused ones on the dead-letter topic."""

from __future__ import annotations

import asyncio

from distillery.counters import Counters
from distillery.events import DeadLetter, ReviewDecision
from distillery.kafka import make_producer, read_topic, send_record
from streams.app import BatchHandler
from streams.consumer import Batch
from streams.pipeline import Pipeline
from streams.store.db import StoreBatch

TASK = "transactions"


def test_decisions_round_trip_through_kafka_and_bad_ones_reach_the_dead_letter_topic(kafka_settings) -> None:
    s = kafka_settings()
    pipeline = Pipeline(s, Counters("streams"), teacher_factory=lambda task: (_ for _ in ()).throw(
        AssertionError("no teacher call")))
    store = pipeline.store(TASK)
    batch = StoreBatch()
    batch.review.append(("e-low", "AMC THEATRES 44", "low_confidence", "entertainment_events", 0.4, "review", 1))
    batch.examples.append(("e-audit", "STARBUCKS #12", "fast_food", "fast_food", "teacher", "gpt", 0.97, None,
                           "train", 1, 1))
    store.write(batch)
    decisions = [
        ReviewDecision(task=TASK, item_id="e-audit", decision="correct", answer="coffee_shops", reviewer="ana"),
        ReviewDecision(task=TASK, item_id="e-low", decision="accept", reviewer="ana"),
        ReviewDecision(task=TASK, item_id="e-missing", decision="accept", reviewer="ana"),
    ]

    async def run() -> list[DeadLetter]:
        producer = make_producer(s)
        await producer.start()
        try:
            for d in decisions:
                await send_record(producer, s, d)
            records = await read_topic(s.kafka.bootstrap_servers, s.topics.reviewed, expect=3)
            assert [ReviewDecision.model_validate_json(r.value).decision_id for r in records] == [
                d.decision_id for d in decisions]

            async def send(topic: str, key: bytes, value: bytes):  # the worker's send: produce, ack later
                return await producer.send(topic, value, key=key)

            await BatchHandler(pipeline, s.topics, send)(Batch(records))
            letters = await read_topic(s.kafka.bootstrap_servers, s.topics.deadletter, expect=1)
        finally:
            await producer.stop()
        return [DeadLetter.model_validate_json(r.value) for r in letters]

    letters = asyncio.run(run())
    assert [(dl.reason, dl.event_id, dl.stage, dl.source_topic) for dl in letters] == [
        ("review_refused", "e-missing", "review", s.topics.reviewed)]
    assert store.query("SELECT event_id, label FROM examples WHERE source = 'human' ORDER BY event_id") == [
        ("e-audit", "coffee_shops"), ("e-low", "entertainment_events")]
    assert store.query("SELECT status FROM review") == [("accepted",)]
    asyncio.run(pipeline.close())
