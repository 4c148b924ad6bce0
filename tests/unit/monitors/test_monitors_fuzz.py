"""The monitors worker fed hostile records on every topic it reads (issue #13).

Records generated from the contract's schemas (``hostile_strategies``: extreme
numbers and dates, huge strings, every Unicode category, wrong types, missing and
extra fields, foreign JSON, non-JSON bytes, tombstones) for ``inference.events``,
``distill.labeled``, ``distill.review``, ``distill.deadletter``, ``train.jobs``,
``adapters.published`` and ``adapters.control`` go in batches through the
worker's own :meth:`Handlers.handle`, then :meth:`Handlers.load_references` and a
checkpoint of every task, as its loop does. Properties:

* nothing raises and nothing is logged as an error;
* every record ends in exactly one place: observed by its task's monitor (the
  monitor's position on that partition moves to the record), counted invalid
  (an inference event the streams worker dead-letters), counted malformed (any
  other unreadable or foreign record, logged with topic, partition and offset),
  or counted as a dead letter of an undeclared task;
* a monitor restored from its checkpoint skips what it already saw.

Thousands of examples in the suite; ``FUZZ_EXAMPLES`` for the long run (``make fuzz``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from typing import Any

import pytest
from hostile_strategies import FUZZ_EXAMPLES, fuzz_profile, load_schema, message_values, run_fuzz, strings
from hypothesis import given
from hypothesis import strategies as st
from log_tap import LogTap

from distillery import topics as names
from monitors.handlers import Handlers

PROFILE = fuzz_profile("monitors", 1_000)
TASKS = ["transactions", "nope"]
TOPICS = (names.INFERENCE, names.LABELED, names.REVIEW, names.DEADLETTER, names.TRAIN_JOBS, names.PUBLISHED,
          names.CONTROL)  # a topic's base name is its schema's name
RESTART_EVERY = 200


def _values(schema_name: str) -> st.SearchStrategy[bytes | None]:
    return message_values(load_schema(schema_name),
                          overrides={"task": st.one_of(st.sampled_from(TASKS), strings(0, 32))},
                          valid_overrides={"task": st.sampled_from(TASKS)})


RECORDS = st.lists(st.one_of(*[st.tuples(st.just(base), _values(base), st.integers(0, 2)) for base in TOPICS]),
                   min_size=1, max_size=6)


def _record(topic: str, partition: int, offset: int, value: bytes | None) -> Any:
    from aiokafka.structs import ConsumerRecord
    return ConsumerRecord(topic, partition, offset, offset, 0, None, value, None, 0, len(value or b""), [])


class Harness:
    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.offsets: collections.Counter[tuple[str, int]] = collections.Counter()
        self.figures: collections.Counter[str] = collections.Counter()
        self.handlers = Handlers(settings)

    def restart(self) -> None:
        """Checkpoint every task and start a fresh worker from the checkpoints, as a restart would."""
        for name, monitor in self.handlers.monitors.items():
            self.handlers.checkpoints.save(monitor, self.handlers.ops.tasks[name])
        self.handlers = Handlers(self.settings)

    def counts(self) -> tuple[int, int, int]:
        ops = self.handlers.ops
        return sum(ops.invalid.values()), sum(ops.malformed.values()), ops.deadlettered_unknown

    def run(self, batch: list[tuple[str, bytes | None, int]], fuzz_log: LogTap) -> None:
        if self.figures["examples"] and self.figures["examples"] % RESTART_EVERY == 0:
            self.restart()
        fuzz_log.clear()
        for base, value, partition in batch:
            topic = self.settings.topics.name(base)
            offset = self.offsets[(topic, partition)]
            self.offsets[(topic, partition)] += 1
            before = self.counts()
            self.loop.run_until_complete(self.handlers.handle(_record(topic, partition, offset, value)))
            after = self.counts()
            moved = [a - b for a, b in zip(after, before, strict=True)]
            observed = [name for name, m in self.handlers.monitors.items()
                        if m.offsets.get((topic, partition), -1) == offset]
            assert sum(moved) + len(observed) == 1, (topic, value[:300] if value else value, moved, observed)
            self.figures.update([("invalid", "malformed", "deadlettered_unknown")[moved.index(1)]
                                 if 1 in moved else f"observed:{base}"])
        self.loop.run_until_complete(self.handlers.load_references())  # as the loop does after a batch
        errors = [r for r in fuzz_log.records if r.levelno >= logging.ERROR]
        assert not errors, errors[0].getMessage()
        for name in self.handlers.monitors:
            assert name in self.settings.tasks, name  # a monitor only for a declared task
        self.figures.update(examples=1, records=len(batch))

    def close(self) -> None:
        self.loop.close()


@pytest.mark.timeout(0 if FUZZ_EXAMPLES else 900)  # a hang guard sized for the suite's examples
def test_monitors_never_raise_and_account_for_every_record(settings_factory: Any,
                                                            fuzz_log: LogTap) -> None:
    harness = Harness(settings_factory())

    @PROFILE
    @given(batch=RECORDS)
    def one_batch(batch: list[tuple[str, bytes | None, int]]) -> None:
        harness.run(batch, fuzz_log)

    try:
        run_fuzz(one_batch)
    finally:
        harness.close()
        print("\nfuzz monitors:", json.dumps(dict(sorted(harness.figures.items()))))
    figures = harness.figures
    assert figures["invalid"] > 0 and figures["malformed"] > 0
    assert figures["observed:inference.events"] > 0 and figures["observed:distill.labeled"] > 0
