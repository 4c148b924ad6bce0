"""The monitors worker runs the review queue: what lands on ``distill.review`` and a drift alarm's
fresh answers reach its review API, and a decision made there lands on ``distill.reviewed``."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

from monitors_support import produce

from distillery.events import DriftEvent, LabeledExample, ReviewDecision, ReviewItem
from distillery.kafka import read_topic

TASK = "transactions"
T0 = 1_780_000_000_000


def _stats(worker) -> dict:
    return json.loads(worker.get("/api/review/stats"))[TASK]


def test_the_worker_materialises_the_queue_and_sends_decisions(kafka_settings, start_monitors) -> None:
    s = kafka_settings()
    worker = start_monitors(s)
    produce(s, s.topics.review, [ReviewItem(task=TASK, event_id="r-1", input="JOE'S DINER", reason="label_outside_set",
                                            teacher_output="diner", ts_ms=T0)])
    produce(s, s.topics.drift, [DriftEvent(task=TASK, signal="category_mix", detector="ADWIN", event_ts_ms=T0 + 5)])
    produce(s, s.topics.labeled, [LabeledExample(task=TASK, event_id=f"l-{i}", input=f"TESLA SUPERCHARGER {i}",
                                                 label="ev_charging", source="teacher", teacher_confidence=0.98,
                                                 ts_ms=T0 + 10 + i) for i in range(3)])
    deadline = time.monotonic() + 60
    stats: dict = {}
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, worker.log()[-4000:]
        try:
            stats = _stats(worker)
        except OSError:
            stats = {}
        if stats.get("open") == 4:
            break
        time.sleep(0.5)
    assert stats.get("open_by_origin") == {"gold": 3, "review": 1}, worker.log()[-3000:]
    body = json.dumps({"task": TASK, "item_id": "r-1", "decision": "correct", "answer": "restaurants",
                       "reviewer": "ana"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}/api/review/decide", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["answer"] == "restaurants"
    records = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.reviewed, expect=1))
    d = ReviewDecision.model_validate_json(records[0].value)
    assert (d.item_id, d.decision, d.answer, d.tool) == ("r-1", "correct", "restaurants", "web")
