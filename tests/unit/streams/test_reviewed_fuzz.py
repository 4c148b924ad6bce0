"""The streams worker's intake of people's decisions fed hostile ``distill.reviewed`` records (issue #13).

Records generated from the contract's schema (``hostile_strategies``) with item
ids drawn from the store's own items (a review item, an example, a gold row) and
from nowhere go in batches through the worker's own
:meth:`Pipeline.restore_reviewed` and :meth:`Pipeline.apply_reviews`, against a
real DuckDB store. Properties:

* nothing raises and nothing is logged as an error;
* every record ends in exactly one place: applied to its task's store, or a dead
  letter naming its offset with a reason and its problems (invalid, unknown
  task, refused), small enough for a broker with default limits;
* the store stays consistent: an applied correction is the human example of its
  input, and no item holds two human examples.

Thousands of examples in the suite; ``FUZZ_EXAMPLES`` for the long run (``make fuzz``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from pathlib import Path

import pytest
from hostile_strategies import (
    FUZZ_EXAMPLES,
    fuzz_profile,
    load_schema,
    message_keys,
    message_values,
    run_fuzz,
    strings,
)
from hostile_support import FakeTeacher, record, settings_for
from hypothesis import given
from hypothesis import strategies as st
from log_tap import LogTap

from distillery.counters import Counters
from distillery.events import InferenceEvent, ReviewDecision
from streams.consumer import Batch
from streams.pipeline import Pipeline
from streams.rows import example_row, review_row
from streams.store.db import StoreBatch

PROFILE = fuzz_profile("reviewed", 1_000)
TASKS = ["transactions", "nope"]
ITEMS = [f"item-{i}" for i in range(6)]
DEFAULT_BROKER_MAX = 1_048_588
REVIEWED = message_values(
    load_schema("distill.reviewed"),
    overrides={"task": st.one_of(st.sampled_from(TASKS), strings(0, 32)),
               "item_id": st.one_of(st.sampled_from(ITEMS), strings(0, 600))},
    valid_overrides={"task": st.sampled_from(TASKS),
                     "item_id": st.one_of(st.sampled_from(ITEMS), st.sampled_from(ITEMS), strings(1, 64)),
                     "answer": st.one_of(st.none(), st.sampled_from(["groceries", "fuel", "nope", ""]),
                                         strings(0, 40), st.dictionaries(strings(0, 8), strings(0, 8), max_size=2))})


def _seed_store(pipeline: Pipeline) -> None:
    """Items a decision can name: review items, teacher examples (auditable) and nothing else."""
    spec = pipeline.settings.task("transactions")
    rows = StoreBatch()
    for i, item_id in enumerate(ITEMS):
        ev = InferenceEvent(event_id=item_id, task="transactions", input=f"SHOP {i}")
        if i % 2:
            rows.review.append(review_row(ev, ev.input_text(), "low_confidence: 0.41 < 0.60", "fuel", 0.41,
                                          "review"))
        else:
            rows.examples.append(example_row(ev, ev.input_text(), "groceries", spec, source="teacher",
                                             teacher_model="gpt-4.1", confidence=0.97, split="train"))
    pipeline.store("transactions").write(rows)


@pytest.mark.timeout(0 if FUZZ_EXAMPLES else 900)  # a hang guard sized for the suite's examples
def test_review_decisions_never_raise_and_each_is_applied_or_dead_lettered(
        tmp_path: Path, fuzz_log: LogTap) -> None:
    settings = settings_for(tmp_path)
    teacher = FakeTeacher(list(settings.task("transactions").labels))
    counters = Counters("streams")
    pipeline = Pipeline(settings, counters, teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    loop = asyncio.new_event_loop()
    loop.run_until_complete(pipeline.ensure_restored("transactions"))
    _seed_store(pipeline)
    topic = settings.topics.reviewed
    offsets = iter(range(10**9))
    figures: collections.Counter[str] = collections.Counter()

    @PROFILE
    @given(batch=st.lists(st.tuples(REVIEWED, message_keys()), min_size=1, max_size=8))
    def one_batch(batch: list[tuple[bytes | None, bytes | None]]) -> None:
        fuzz_log.clear()
        records = [record(topic, next(offsets), value, key) for value, key in batch]
        raws = Batch(records).raws(topic)
        applied_before = counters.total("review_applied")
        loop.run_until_complete(pipeline.restore_reviewed(raws))  # the worker's own intake: must not raise
        letters = pipeline.apply_reviews(raws)
        applied = int(counters.total("review_applied") - applied_before)
        assert applied + len(letters) == len(batch), (applied, [d.reason for d in letters], len(batch))
        sources = [d.source_offset for d in letters]
        assert len(sources) == len(set(sources)) and set(sources) <= {r.offset for r in records}
        for d in letters:
            assert d.reason and d.problems and d.stage == "review", d
            assert len(d.to_json()) + len(d.key() or b"") < DEFAULT_BROKER_MAX
        assert not [r for r in fuzz_log.records if r.levelno >= logging.ERROR]
        humans = pipeline.store("transactions").query(
            "SELECT event_id, count(*) FROM examples WHERE source = 'human' GROUP BY event_id HAVING count(*) > 1")
        assert not humans, humans
        valid = 0
        for value, _ in batch:
            try:
                ReviewDecision.model_validate_json(value or b"")
                valid += 1
            except ValueError:
                pass
        figures.update(examples=1, records=len(batch), applied=applied, valid=valid)
        for d in letters:
            figures[f"letter:{d.reason}"] += 1

    try:
        run_fuzz(one_batch)
    finally:
        loop.run_until_complete(pipeline.close())
        loop.close()
        print("\nfuzz distill.reviewed:", json.dumps(dict(sorted(figures.items()))))
    assert figures["applied"] > 0 and figures["letter:invalid"] > 0 and figures["letter:review_refused"] > 0
