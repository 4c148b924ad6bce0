"""The demo's simulated reviewer over the real broker: it leases queue items, finds the teacher's
blind spot, and its decisions reach ``distill.reviewed``."""

from __future__ import annotations

import asyncio
import time

from console.demo.review import ReviewLoop
from distillery.events import ReviewDecision, ReviewItem
from distillery.kafka import read_topic
from monitors.review.queue import ReviewQueue

TASK = "transactions"
ITEMS = [("ASPEN DENTAL #12 AUSTIN TX", "medical_services"), ("STARBUCKS #1234 SEATTLE WA", "coffee_shops"),
         ("XQZZY 0001", "fuel")]


def test_the_demo_reviewer_works_through_the_queue(kafka_settings) -> None:
    s = kafka_settings()
    ReviewQueue.for_settings(s).ingest([
        ReviewItem(task=TASK, event_id=f"r-{i}", input=text, reason="audit: confident answer (0.95)",
                   teacher_output=label, teacher_confidence=0.95, ts_ms=i) for i, (text, label) in enumerate(ITEMS)], {})
    loop = ReviewLoop(s, TASK, per_s=50.0)
    loop.start()
    for _ in range(300):
        if loop.decided + loop.refused >= 3 or loop.error:
            break
        time.sleep(0.1)
    loop.stop()
    assert (loop.decided, loop.refused, loop.error) == (3, 0, None)
    records = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.reviewed, expect=3))
    got = [ReviewDecision.model_validate_json(r.value) for r in records]
    assert sorted((d.item_id, d.decision, d.answer, d.tool) for d in got) == [
        ("r-0", "correct", "dental_vision", "demo"), ("r-1", "accept", None, "demo"), ("r-2", "skip", None, "demo")]
    assert loop.lines() == ["review: a simulated reviewer decided 3 items ({'accept': 1, 'correct': 1, 'skip': 1}), "
                            "0 still open; teacher error rate found: medical_services 100% of 1 "
                            "(people said dental_vision 1)"]
