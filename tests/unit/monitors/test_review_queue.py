"""The review queue: audit draws, priorities, leases that never hand one item to two reviewers,
decisions checked like the streams worker checks them, and the counts people are judged by."""

from __future__ import annotations

import threading

import pytest

from distillery.errors import ReviewError
from distillery.events import (
    AdapterRejected,
    DriftEvent,
    GateMetrics,
    LabeledExample,
    ModelScores,
    ReviewItem,
)
from distillery.taskspec import ReviewSpec
from monitors.review.priority import audited
from monitors.review.queue import ReviewQueue

TASK = "transactions"
T0 = 1_780_000_000_000


def _review(i: int, reason: str, answer: str | None, conf: float | None = 0.5, ts: int = 0) -> ReviewItem:
    return ReviewItem(task=TASK, event_id=f"r-{i}", input=f"MERCHANT {i}", reason=reason, teacher_output=answer,
                      teacher_confidence=conf, ts_ms=T0 + ts)


def _labeled(i: int, label: str, ts: int = 0) -> LabeledExample:
    return LabeledExample(task=TASK, event_id=f"l-{i}", input=f"SHOP {i}", label=label, source="teacher",
                          teacher_confidence=0.97, ts_ms=T0 + ts)


@pytest.fixture
def queue(settings_factory, tmp_path) -> ReviewQueue:
    """A queue with the built-in review defaults (whatever distillery.toml tunes)."""
    s = settings_factory()
    spec = s.task(TASK).model_copy(update={"review": ReviewSpec()})
    return ReviewQueue(tmp_path / "q.sqlite", s.with_overrides(tasks={TASK: spec}))


def _drain(q: ReviewQueue, reviewer: str = "ana") -> list[str]:
    out = []
    while (item := q.next(reviewer, now_ms=T0)) is not None:
        out.append(item.item_id)
        q.mark(q.decide(TASK, item.item_id, reviewer, "skip", tool="test", now_ms=T0))
    return out


def test_audits_are_a_seeded_share_of_confident_answers_with_rare_categories_oversampled(queue) -> None:
    common = [_labeled(i, "groceries") for i in range(2000)]
    rare = [_labeled(10_000 + i, "gaming") for i in range(100)]
    queue.ingest(common + rare, {("x", 0): 1})
    items = {i.item_id for i in [queue.item(TASK, r.event_id) for r in common + rare] if i is not None}
    n_common = sum(1 for r in common if r.event_id in items)
    n_rare = sum(1 for r in rare if r.event_id in items)
    # audit_rate 0.02; gaming stays under rare_share 0.05 of what was seen: rare_boost 5x, 0.1
    assert (n_common, n_rare) == (41, 10)
    assert items == {r.event_id for r in common if audited(TASK, r.event_id, 0.02)} | {
        r.event_id for r in rare if audited(TASK, r.event_id, 0.1)}
    assert queue.offsets() == {("x", 0): 1}


def test_a_confident_mistake_people_caught_raises_its_category_audit_share_until_accepts_clear_it(
        settings_factory, tmp_path) -> None:
    s = settings_factory()
    review = ReviewSpec(audit_rate=0.02, found_error_audit_rate=0.25, found_error_window=3)
    q = ReviewQueue(tmp_path / "q.sqlite", s.with_overrides(tasks={TASK: s.task(TASK).model_copy(
        update={"review": review})}))
    q.ingest([_labeled(i, "groceries") for i in range(200)] + [_labeled(500 + i, "fuel") for i in range(200)], {})

    def audited_ids(start: int, label: str) -> set[str]:
        batch = [_labeled(start + i, label) for i in range(400)]
        q.ingest(batch, {})
        return {r.event_id for r in batch if q.item(TASK, r.event_id) is not None}

    def decide(item_id: str, verdict: str, answer: str | None = None, at: int = 0) -> None:
        q.mark(q.decide(TASK, item_id, "ana", verdict, answer=answer, tool="test", now_ms=T0 + at))

    first = sorted(audited_ids(1_000, "groceries"), key=lambda e: int(e.split("-")[1]))
    assert 0 < len(first) < 20  # 2% of 400
    decide(first[0], "correct", "pharmacy", at=1)  # a confident groceries answer was wrong
    boosted = audited_ids(2_000, "groceries")
    assert boosted == {f"l-{2_000 + i}" for i in range(400) if audited(TASK, f"l-{2_000 + i}", 0.25)}
    assert audited_ids(3_000, "fuel") == {f"l-{3_000 + i}" for i in range(400)
                                          if audited(TASK, f"l-{3_000 + i}", 0.02)}  # only where it was caught
    ahead = q.next("bo", now_ms=T0 + 5)  # the caught label's audits, old and new, before rarer labels' ones
    assert ahead is not None and ahead.category == "groceries" and ahead.item_id not in boosted
    assert ahead.rank == -1  # queued before the correction, moved ahead by it
    assert "people corrected 1 of this label's latest confident answers" in q.item(TASK, min(boosted)).reason
    later = sorted(boosted, key=lambda e: int(e.split("-")[1]))
    for k, item_id in enumerate(later[:3]):  # three accepts in a row: the window holds no correction any more
        decide(item_id, "accept", at=10 + k)
    assert audited_ids(4_000, "groceries") == {f"l-{4_000 + i}" for i in range(400)
                                               if audited(TASK, f"l-{4_000 + i}", 0.02)}


def test_priorities_worst_category_then_unsure_after_drift_then_audits_then_the_rest(queue) -> None:
    queue.ingest([
        _review(1, "label_outside_set: 'diner'", "diner", ts=1),
        _review(2, "low_confidence: 0.40 < 0.70", "fuel", ts=2),  # before the drift
        _review(3, "low_confidence: 0.40 < 0.70", "gaming", ts=30),  # after it
        _review(4, "low_confidence: 0.55 < 0.70", "coffee_shops", ts=3),  # a worst category
    ], {})
    queue.ingest([_labeled(i, "groceries", ts=100 + i) for i in range(200)], {})
    audits = [i.item_id for i in (queue.item(TASK, f"l-{k}") for k in range(200)) if i is not None]
    scores = ModelScores(n=50, accuracy=0.9, per_category={"coffee_shops": 0.4, "fuel": 0.95})
    queue.ingest([DriftEvent(task=TASK, signal="category_mix", detector="ADWIN", event_ts_ms=T0 + 10),
                  AdapterRejected(task=TASK, job_id="j", reason="gate",
                                  metrics=GateMetrics(gold_size=50, candidate=scores))], {})
    assert _drain(queue) == ["r-4", "r-3", *audits, "r-1", "r-2"]


def test_two_reviewers_never_hold_one_item_and_an_expired_lease_frees_it(queue) -> None:
    queue.ingest([_review(i, "low_confidence", "fuel", ts=i) for i in range(3)], {})
    a = queue.next("ana", now_ms=T0)
    b = queue.next("bo", now_ms=T0)
    assert (a.item_id, b.item_id) == ("r-0", "r-1")
    assert queue.next("ana", now_ms=T0 + 1).item_id == "r-0"  # her own lease comes back to her
    with pytest.raises(ReviewError, match=r"'r-0' is leased to 'ana' for another 300 s"):
        queue.decide(TASK, "r-0", "bo", "accept", tool="test", now_ms=T0 + 1)
    later = T0 + 301_001  # lease_seconds = 300, renewed at T0 + 1
    assert queue.next("bo", now_ms=later).item_id == "r-0"  # ana's lease ran out: the oldest free item is hers
    assert queue.item(TASK, "r-0").lease_owner == "bo"


def test_concurrent_reviewers_get_distinct_items(queue) -> None:
    queue.ingest([_review(i, "low_confidence", "fuel", ts=i) for i in range(40)], {})
    got: list[str] = []
    lock = threading.Lock()

    def reviewer(name: str) -> None:
        for _ in range(5):
            item = queue.next(name, now_ms=T0)
            assert item is not None
            queue.mark(queue.decide(TASK, item.item_id, name, "accept", tool="test", now_ms=T0))
            with lock:
                got.append(item.item_id)

    threads = [threading.Thread(target=reviewer, args=(f"rev-{k}",)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 40 and len(set(got)) == 40


def test_bad_decisions_are_refused_with_the_fix_and_change_nothing(queue) -> None:
    queue.ingest([_review(1, "label_outside_set: 'diner'", "diner"), _review(2, "low_confidence", "fuel")], {})
    with pytest.raises(ReviewError, match=r"'tea' is not one of the 43 labels of task 'transactions'"):
        queue.decide(TASK, "r-2", "ana", "correct", "tea", tool="test")
    with pytest.raises(ReviewError, match=r"item_id: 'r-9' is not in the review queue of task 'transactions'"):
        queue.decide(TASK, "r-9", "ana", "accept", tool="test")
    with pytest.raises(ReviewError, match=r"keeps the teacher's answer, which is not valid"):
        queue.decide(TASK, "r-1", "ana", "accept", tool="test")
    with pytest.raises(ReviewError, match=r"task: unknown task 'nope'"):
        queue.decide("nope", "r-1", "ana", "accept", tool="test")
    assert queue.stats()[TASK]["open"] == 2 and queue.stats()[TASK]["decided"] == 0
    d = queue.decide(TASK, "r-1", "ana", "correct", "Restaurants", tool="test")
    assert (d.answer, d.teacher_output, d.origin) == ("restaurants", "diner", "review")
    queue.mark(d)
    queue.mark(d)  # read back from Kafka: idempotent
    with pytest.raises(ReviewError, match=r"'r-1' was already decided \(correct by ana\)"):
        queue.decide(TASK, "r-1", "bo", "accept", tool="test")


def test_stats_count_backlog_throughput_disagreement_and_cost(queue) -> None:
    queue.ingest([_review(i, "low_confidence", "fast_food" if i < 4 else "fuel", ts=i) for i in range(6)], {})
    for i, answer in ((0, "coffee_shops"), (1, "coffee_shops"), (2, None), (4, None)):
        decision = "correct" if answer else "accept"
        queue.mark(queue.decide(TASK, f"r-{i}", "ana", decision, answer, tool="test", now_ms=T0 + i))
    st = queue.stats(now_ms=T0 + 60_000)[TASK]
    assert (st["open"], st["decided"], st["by_decision"]) == (2, 4, {"accept": 2, "correct": 2})
    assert st["per_minute"] == round(4 / 15, 3) and st["eta_minutes"] == 7.5
    assert st["disagreement"] == {"fast_food": {"reviewed": 3, "disagreed": 2, "teacher_error_rate": 0.6667,
                                                "people_said": {"coffee_shops": 2}},
                                  "fuel": {"reviewed": 1, "disagreed": 0, "teacher_error_rate": 0.0, "people_said": {}}}
    assert st["cost_usd"] == 1.0  # 4 reviewed x review.cost_per_item_usd 0.25


def test_a_drift_alarm_puts_gold_candidates_of_the_new_category_in_the_queue_rare_first(queue) -> None:
    queue.ingest([_labeled(i, "groceries", ts=i) for i in range(300)], {})  # before: no gold window
    assert [i.origin for i in queue.open_items()].count("gold") == 0
    queue.ingest([DriftEvent(task=TASK, signal="category_mix", detector="ADWIN", event_ts_ms=T0 + 1000)], {})
    fresh = [_labeled(1000 + i, "groceries" if i % 4 else "ev_charging", ts=2000 + i) for i in range(40)]
    queue.ingest(fresh, {})
    gold = [i for i in queue.open_items() if i.origin == "gold"]
    # review.gold_per_category = 5 of each category seen after the alarm; the new, rare one first
    assert [(i.item_id, i.category) for i in gold] == [
        *[(f"l-{1000 + k}", "ev_charging") for k in (0, 4, 8, 12, 16)],
        *[(f"l-{1000 + k}", "groceries") for k in (1, 2, 3, 5, 6)]]
    assert gold[0].reason == "gold candidate: fresh input after a category_mix drift alarm"
    d = queue.decide(TASK, "l-1000", "ana", "accept", tool="test")
    assert (d.decision, d.answer) == ("promote_gold", None)  # a reviewed candidate joins the gold set
    d = queue.decide(TASK, "l-1004", "ana", "correct", "ev charging", tool="test")
    assert (d.decision, d.answer) == ("promote_gold", "ev_charging")


def test_gold_candidates_on_a_schedule(settings_factory, tmp_path) -> None:
    s = settings_factory()
    spec = s.task(TASK)
    review = spec.review.model_copy(update={"gold_refresh_hours": 1.0, "gold_per_category": 2})
    s = s.with_overrides(tasks={TASK: spec.model_copy(update={"review": review})})
    q = ReviewQueue(tmp_path / "q.sqlite", s)
    hour = 3_600_000
    q.ingest([_labeled(i, "fuel", ts=i * hour // 4) for i in range(12)], {})  # 3 hours of answers
    gold = [i.item_id for i in q.open_items() if i.origin == "gold"]
    assert gold == ["l-0", "l-1", "l-4", "l-5", "l-8", "l-9"]  # two per category at each hourly refresh


def test_a_decision_the_owner_refused_reopens_its_item_with_the_reason(queue) -> None:
    from distillery.events import DeadLetter

    queue.ingest([_review(1, "low_confidence", "fuel")], {})
    d = queue.decide(TASK, "r-1", "ana", "accept", tool="test", now_ms=T0)
    queue.mark(d)
    assert queue.stats(now_ms=T0)[TASK]["decided"] == 1
    letter = DeadLetter.carrying(d.to_json(), d.key(), task=TASK, reason="review_refused", stage="review",
                                 problems=["item_id: 'r-1' is not an item of task 'transactions'"],
                                 source_topic="distill.reviewed", source_partition=0, source_offset=3,
                                 event_id="r-1")
    queue.ingest([letter], {})
    item = queue.item(TASK, "r-1")
    assert (item.state, item.decision) == ("open", None)
    assert item.reason.startswith("decision refused by the streams worker (item_id: 'r-1' is not an item")
    assert queue.stats(now_ms=T0)[TASK]["decided"] == 0
