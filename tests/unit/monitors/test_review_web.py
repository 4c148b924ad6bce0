"""The review API: a refused decision is a 400 naming the fix and changes nothing; leases, release, stats."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from distillery.events import ReviewDecision, ReviewItem
from monitors.metrics import Ops
from monitors.review.queue import ReviewQueue
from monitors.review.service import ReviewService
from monitors.web import ops_app

TASK = "transactions"


async def test_the_review_api(settings_factory, tmp_path) -> None:
    s = settings_factory()
    queue = ReviewQueue(tmp_path / "q.sqlite", s)
    queue.ingest([ReviewItem(task=TASK, event_id=f"r-{i}", input=f"SHOP {i}", reason="low_confidence",
                             teacher_output="fuel", teacher_confidence=0.4, ts_ms=i) for i in range(2)], {})
    sent: list[ReviewDecision] = []

    async def send(d: ReviewDecision) -> None:
        sent.append(d)

    async with TestClient(TestServer(ops_app(Ops(), review=ReviewService(s, queue, send)))) as client:
        page = await client.get("/review")
        assert page.status == 200 and '<script src="static/review.js">' in await page.text()
        assert (await client.get("/api/review/next")).status == 400  # who is reviewing?
        item = await (await client.get("/api/review/next?reviewer=ana")).json()
        assert (item["item_id"], item["kind"], item["labels"][:2]) == ("r-0", "classification",
                                                                       ["groceries", "restaurants"])
        assert (await (await client.get("/api/review/next?reviewer=bo")).json())["item_id"] == "r-1"
        for body, error in (
            ({"task": TASK, "item_id": "r-0", "decision": "correct", "answer": "tea", "reviewer": "ana"},
             "'tea' is not one of the 43 labels"),
            ({"task": TASK, "item_id": "r-0", "decision": "maybe", "reviewer": "ana"}, "'maybe' is not one of"),
            ({"task": TASK, "item_id": "r-9", "decision": "accept", "reviewer": "ana"}, "'r-9' is not in the review"),
            ({"task": TASK, "item_id": "r-1", "decision": "accept", "reviewer": "ana"}, "leased to 'bo'"),
        ):
            resp = await client.post("/api/review/decide", json=body)
            assert resp.status == 400 and error in (await resp.json())["error"]
        assert (await client.post("/api/review/decide", data=b"{not json")).status == 400
        assert sent == [] and queue.stats()[TASK]["decided"] == 0
        ok = await client.post("/api/review/decide", json={"task": TASK, "item_id": "r-0", "decision": "correct",
                                                            "answer": "Coffee Shops", "reviewer": "ana"})
        assert ok.status == 200 and (await ok.json())["answer"] == "coffee_shops"
        assert [(d.item_id, d.answer, d.tool) for d in sent] == [("r-0", "coffee_shops", "web")]
        released = await client.post("/api/review/release", json={"task": TASK, "item_id": "r-1", "reviewer": "bo"})
        assert released.status == 200
        assert (await (await client.get("/api/review/next?reviewer=ana")).json())["item_id"] == "r-1"
        assert (await client.get("/api/review/next?reviewer=ana&task=nope")).status == 400
        stats = await (await client.get("/api/review/stats")).json()
        assert (stats[TASK]["open"], stats[TASK]["decided"], stats[TASK]["leased"]) == (1, 1, 1)
