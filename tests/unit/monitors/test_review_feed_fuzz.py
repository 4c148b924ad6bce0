"""The review queue's feeder fed hostile records on every topic it reads (issue #13).

Records generated from the contract's schemas (``hostile_strategies``) for
``distill.review``, ``distill.labeled``, ``distill.reviewed``,
``distill.deadletter``, ``drift.events``, ``adapters.published`` and
``adapters.rejected`` go in batches through the feeder's own
:meth:`QueueFeeder._parse` and :meth:`ReviewQueue.ingest` (one SQLite
transaction with the offsets, as :meth:`QueueFeeder.poll` does), then a
reviewer takes the next item and decides it. Properties:

* nothing raises: every record is parsed or skipped with a warning naming its
  topic, partition and offset, and every parsed batch is ingested;
* the offsets read are kept with the batch (a restart resumes exactly there);
* the queue stays usable: items only of declared tasks, ``next`` hands out an
  open item of a declared task, ``stats`` counts without failing, and a
  decision on a hostile item is made or refused with a :class:`ReviewError`.

Thousands of examples in the suite; ``FUZZ_EXAMPLES`` for the long run (``make fuzz``).
"""

from __future__ import annotations

import collections
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hostile_strategies import FUZZ_EXAMPLES, fuzz_profile, load_schema, message_values, run_fuzz, strings
from hypothesis import given
from hypothesis import strategies as st
from log_tap import LogTap

from distillery import topics as names
from distillery.errors import ReviewError
from monitors.review.feed import QueueFeeder
from monitors.review.queue import ReviewQueue

PROFILE = fuzz_profile("review-feed", 1_000)
TASKS = ["transactions", "nope"]
TOPICS = (names.REVIEW, names.LABELED, names.REVIEWED, names.DEADLETTER, names.DRIFT, names.PUBLISHED,
          names.REJECTED)  # a topic's base name is its schema's name


def _values(base: str) -> st.SearchStrategy[bytes | None]:
    return message_values(load_schema(base), overrides={"task": st.one_of(st.sampled_from(TASKS), strings(0, 32))},
                          valid_overrides={"task": st.sampled_from(TASKS)})


RECORDS = st.lists(st.one_of(*[st.tuples(st.just(base), _values(base)) for base in TOPICS]), min_size=1, max_size=8)
ANSWERS = st.one_of(st.none(), st.sampled_from(["groceries", "fuel", "not-a-label", ""]), strings(0, 40))
VERDICTS = st.sampled_from(["accept", "correct", "skip", "promote_gold"])


def _record(topic: str, offset: int, value: bytes | None) -> Any:
    from aiokafka.structs import ConsumerRecord
    return ConsumerRecord(topic, 0, offset, offset, 0, None, value, None, 0, len(value or b""), [])


@pytest.mark.timeout(0 if FUZZ_EXAMPLES else 900)  # a hang guard sized for the suite's examples
def test_the_review_feed_never_raises_and_the_queue_stays_usable(settings_factory: Any, tmp_path: Path,
                                                                  fuzz_log: LogTap) -> None:
    settings = settings_factory()
    queue = ReviewQueue(tmp_path / "q.sqlite", settings)
    feeder = QueueFeeder(settings, queue)
    offsets: collections.Counter[str] = collections.Counter()
    figures: collections.Counter[str] = collections.Counter()

    @PROFILE
    @given(batch=RECORDS, verdict=VERDICTS, answer=ANSWERS)
    def one_batch(batch: list[tuple[str, bytes | None]], verdict: str, answer: Any) -> None:
        fuzz_log.clear()
        parsed, reached = [], {}
        for base, value in batch:
            topic = settings.topics.name(base)
            rec = _record(topic, offsets[topic], value)
            offsets[topic] += 1
            reached[(topic, 0)] = offsets[topic]
            record = feeder._parse(rec)  # the feeder's own parse: a record or None, never an exception
            if record is None:
                warned = [r for r in fuzz_log.records if f"{topic}[0]@{rec.offset}" in r.getMessage()]
                assert warned, f"skipped {value[:200] if value else value!r} without a word"
                figures["skipped"] += 1
            else:
                parsed.append(record)
                figures[f"parsed:{base}"] += 1
        figures["added"] += queue.ingest(parsed, reached)  # one transaction, as poll does
        assert queue.offsets() == {**queue.offsets(), **reached}
        item = queue.next("fuzz")
        if item is not None:
            assert item.task in settings.tasks and item.state == "open", item
            try:
                queue.mark(queue.decide(item.task, item.item_id, "fuzz", verdict, answer, tool="fuzz"))  # type: ignore[arg-type]
                figures["decided"] += 1
            except ReviewError:
                figures["refused"] += 1
        for task, counts in queue.stats().items():
            assert task in settings.tasks and counts["open"] >= 0
        assert not [r for r in fuzz_log.records if r.levelno >= logging.ERROR]
        figures.update(examples=1, records=len(batch))

    run_fuzz(one_batch)
    print("\nfuzz review feed:", json.dumps(dict(sorted(figures.items()))))
    assert figures["skipped"] > 0 and figures["added"] > 0 and figures["decided"] > 0 and figures["refused"] > 0
