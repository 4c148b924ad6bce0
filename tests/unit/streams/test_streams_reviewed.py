"""Review decisions applied by the task's owner: human labels outrank the teacher's in the next
snapshot, gold promotion, and every bad decision dead-lettered with nothing changed."""

from __future__ import annotations

import base64
import json

import pyarrow.parquet as pq
import pytest

from distillery.artifacts import ArtifactStore, fetch
from distillery.errors import ReviewError
from distillery.events import ReviewDecision
from distillery.taskspec import TaskSpec
from streams.review_answers import check_answer
from streams.reviewed import apply_decisions
from streams.source import Source
from streams.store.db import StoreBatch, TaskStore
from streams.store.snapshot import export

TASK = "transactions"


def _raw(rec: ReviewDecision | bytes, offset: int) -> tuple[bytes, bytes, Source]:
    value = rec if isinstance(rec, bytes) else rec.to_json()
    return value, TASK.encode(), Source("p.distill.reviewed", 0, offset)


@pytest.fixture
def world(settings_factory, tmp_path):
    s = settings_factory()
    store = TaskStore(tmp_path / "t.duckdb")
    batch = StoreBatch()
    ex = ("e-audit", "STARBUCKS #12 SEATTLE", "fast_food", "fast_food", "teacher", "gpt", 0.97, None, "train", 1, 1)
    twin = ("e-twin", "starbucks #877 seattle", "fast_food", "fast_food", "teacher", "gpt", 0.95, None, "train", 1, 1)
    other = ("e-fuel", "SHELL OIL 5543", "fuel", "fuel", "teacher", "gpt", 0.99, None, "train", 1, 1)
    batch.examples += [ex, twin, other]
    batch.review += [("e-off", "JOE'S DINER", "label_outside_set: 'diner'", "diner", 0.9, "rejected", 1),
                     ("e-low", "AMC THEATRES 44", "low_confidence", "entertainment_events", 0.4, "review", 1)]
    store.write(batch)
    return s, store


def _state(store: TaskStore) -> tuple[list[tuple], list[tuple], list[tuple]]:
    return (store.query("SELECT event_id, label, source FROM examples ORDER BY event_id, source"),
            store.query("SELECT event_id, status FROM review ORDER BY event_id"),
            store.query("SELECT gold_id, label, source, teacher_label FROM gold ORDER BY gold_id"))


def test_a_correction_outranks_every_alike_teacher_label_in_the_next_snapshot(world, tmp_path) -> None:
    s, store = world
    out = apply_decisions(s, lambda _t: store, [
        _raw(ReviewDecision(task=TASK, item_id="e-audit", decision="correct", answer="Coffee Shops",
                            reviewer="ana"), 0),
        _raw(ReviewDecision(task=TASK, item_id="e-low", decision="accept", reviewer="ana"), 1),
    ])
    assert out.applied == 2 and out.deadletters == []
    examples, review, _ = _state(store)
    assert ("e-audit", "coffee_shops", "human") in examples and ("e-low", "entertainment_events", "human") in examples
    assert dict(review)["e-low"] == "accepted"
    arts = ArtifactStore(str(tmp_path / "arts"))
    snap = export(store, arts, TASK, reason="manual")
    rows = pq.read_table(fetch(snap.job.snapshot_uri, tmp_path / "s.parquet")).to_pylist()
    assert [(r["event_id"], r["label"], r["source"], r["teacher_label"]) for r in rows] == [
        ("e-audit", "coffee_shops", "human", "fast_food"), ("e-fuel", "fuel", "teacher", None),
        ("e-low", "entertainment_events", "human", None)]  # e-twin normalises like e-audit: outranked too
    # a human row carries the teacher's training label for the same item (an audited example), the trainer's
    # pairs for what the teacher gets wrong (trainer.teacher_noise); an unsure answer sent for review never
    # became a training label, so it says nothing of the labels' noise
    assert snap.job.n_train + snap.job.n_eval == 3


def test_a_second_decision_replaces_the_first_and_promotion_moves_the_item_to_gold(world) -> None:
    s, store = world
    first = ReviewDecision(task=TASK, item_id="e-audit", decision="correct", answer="restaurants", reviewer="ana")
    again = ReviewDecision(task=TASK, item_id="e-audit", decision="correct", answer="coffee_shops", reviewer="bo")
    gold = ReviewDecision(task=TASK, item_id="e-fuel", decision="promote_gold", reviewer="bo")
    out = apply_decisions(s, lambda _t: store, [_raw(first, 0), _raw(again, 1), _raw(gold, 2)])
    assert out.applied == 3
    examples, _, golds = _state(store)
    assert [e for e in examples if e[2] == "human"] == [("e-audit", "coffee_shops", "human")]
    assert not [e for e in examples if e[0] == "e-fuel"]  # a gold row is never trained on
    assert golds == [("e-fuel", "fuel", "human", "fuel")]


def test_bad_decisions_are_dead_lettered_and_change_nothing(world) -> None:
    s, store = world
    before = _state(store)
    bad = [
        ReviewDecision(task=TASK, item_id="e-low", decision="correct", answer="tea", reviewer="ana"),
        ReviewDecision(task=TASK, item_id="nope", decision="accept", reviewer="ana"),
        ReviewDecision(task=TASK, item_id="e-off", decision="accept", reviewer="ana"),  # the teacher said 'diner'
        ReviewDecision(task="ghost", item_id="e-low", decision="skip", reviewer="ana"),
    ]
    raws = [_raw(d, i) for i, d in enumerate(bad)] + [_raw(b'{"task": "transactions", "decision": "maybe"}', 9)]
    out = apply_decisions(s, lambda _t: store, raws)
    assert out.applied == 0 and _state(store) == before
    letters = out.deadletters
    assert [(dl.reason, dl.stage, dl.source_offset) for dl in letters] == [
        ("review_refused", "review", 0), ("review_refused", "review", 1), ("review_refused", "review", 2),
        ("unknown_task", "review", 3), ("invalid", "review", 9)]
    assert "'tea' is not one of the 43 labels of task 'transactions'" in letters[0].problems[0]
    assert "item_id: 'nope' is not an item of task 'transactions'" in letters[1].problems[0]
    assert "send decision 'correct'" in letters[2].problems[0]
    assert any(p.startswith("decision:") for p in letters[4].problems)
    assert json.loads(base64.b64decode(letters[0].original_b64))["answer"] == "tea"


def test_extraction_answers_must_be_json_that_fits_the_schema() -> None:
    spec = TaskSpec(name="inv", kind="extraction", output_schema={
        "type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}})
    assert check_answer(spec, '{"amount": 3.5}') == {"amount": 3.5}
    assert check_answer(spec, {"amount": 2}) == {"amount": 2}
    with pytest.raises(ReviewError, match=r"malformed_json: Expecting value at char 0"):
        check_answer(spec, "amount: 3")
    with pytest.raises(ReviewError, match=r"schema: \(root\): 'amount' is a required property"):
        check_answer(spec, {"total": 3})
    with pytest.raises(ValueError, match="answer: required when decision is 'correct'"):
        ReviewDecision(task="inv", item_id="x", decision="correct", reviewer="r")
