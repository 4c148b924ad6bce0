"""The review page in a real headless Chromium, over the real broker: items produced to
``distill.review`` reach the page through the queue's feeder, five are reviewed with the keyboard
(a bad correction is refused on the page and changes nothing), and the five decisions arrive on
``distill.reviewed`` in order, as the reviewer made them."""

from __future__ import annotations

import asyncio

from cdp import Browser

from distillery.events import ReviewDecision, ReviewItem
from distillery.kafka import make_producer, read_topic, send_record
from monitors.metrics import Ops
from monitors.review.feed import QueueFeeder
from monitors.review.queue import ReviewQueue
from monitors.review.service import ReviewService
from monitors.web import serve

TASK = "transactions"
T0 = 1_780_000_000_000
ANSWERS = ["fuel", "groceries", "fast_food", "diner", "pharmacy", "gaming"]


def test_five_items_reviewed_by_keyboard_arrive_on_the_topic(kafka_settings, tmp_path) -> None:
    s = kafka_settings()

    async def run() -> tuple[list[ReviewDecision], str]:
        producer = make_producer(s)
        await producer.start()
        try:
            for i, answer in enumerate(ANSWERS):
                await send_record(producer, s, ReviewItem(
                    task=TASK, event_id=f"r-{i}", input=f"MERCHANT <{i}> #{i}", reason="low_confidence: 0.40 < 0.70",
                    teacher_output=answer, teacher_confidence=0.4, ts_ms=T0 + i))
            queue = ReviewQueue(tmp_path / "queue.sqlite", s)
            feeder = QueueFeeder(s, queue)
            await feeder.start()
            await feeder.catch_up()
            await feeder.stop()

            async def send(d: ReviewDecision) -> None:
                await send_record(producer, s, d)

            served = await serve(Ops(), host="127.0.0.1", http_port=0, web_port=0,
                                 review=ReviewService(s, queue, send))
            try:
                async with Browser() as b:
                    await b.goto(f"http://127.0.0.1:{served.web_port}/review?reviewer=ana")
                    await b.wait_for("document.body.dataset.itemId", "r-0")
                    assert await b.eval("document.getElementById('input').textContent") == "MERCHANT <0> #0"
                    await b.press("a")  # accept fuel
                    await b.wait_for("document.body.dataset.itemId", "r-1")
                    await b.press("s")  # skip
                    await b.wait_for("document.body.dataset.itemId", "r-2")
                    await b.press("c")
                    await b.type("Coffee Shops")
                    await b.press("Enter")  # correct fast_food -> coffee_shops
                    await b.wait_for("document.body.dataset.itemId", "r-3")
                    await b.press("a")  # accept 'diner': not a label, refused on the page
                    await b.wait_for("document.getElementById('error').textContent.includes("
                                     "\"keeps the teacher's answer, which is not valid\")", True)
                    await b.press("c")
                    await b.type("tea")
                    await b.press("Enter")  # still off the label set: refused, nothing sent
                    await b.wait_for("document.getElementById('error').textContent.includes("
                                     "\"'tea' is not one of the 43 labels\")", True)
                    await b.press("Escape")
                    await b.press("c")
                    await b.type("restaurants")
                    await b.press("Enter")
                    await b.wait_for("document.body.dataset.itemId", "r-4")
                    await b.press("g")  # promote pharmacy to the gold set
                    await b.wait_for("document.body.dataset.itemId", "r-5")
                    await b.wait_for("document.body.dataset.decided", "5")
                    await b.wait_for("document.getElementById('counter').dataset.open", "1")
                    counter = await b.eval("document.getElementById('counter').textContent")
            finally:
                await served.close()
            records = await read_topic(s.kafka.bootstrap_servers, s.topics.reviewed, expect=5, idle_s=3)
            return [ReviewDecision.model_validate_json(r.value) for r in records], counter
        finally:
            await producer.stop()

    decisions, counter = asyncio.run(run())
    assert [(d.item_id, d.decision, d.answer, d.reviewer, d.tool) for d in decisions] == [
        ("r-0", "accept", None, "ana", "web"),
        ("r-1", "skip", None, "ana", "web"),
        ("r-2", "correct", "coffee_shops", "ana", "web"),
        ("r-3", "correct", "restaurants", "ana", "web"),
        ("r-4", "promote_gold", None, "ana", "web"),
    ]
    assert decisions[2].teacher_output == "fast_food" and counter.startswith("1 left · ")
