"""Fuzzing the inference.events consumer: the worker's own batch handler, in process (issue #13).

Records generated from the contract's schemas (``hostile_strategies``: extreme
numbers and dates, huge and deeply nested strings, every Unicode category, wrong
types, missing and extra fields, foreign JSON, non-JSON bytes, huge keys, hostile
drift events beside them) go in batches through :class:`streams.app.BatchHandler`
(drift, validation, redaction, sampling, a fake teacher, a real DuckDB file per task,
publishing to a fake producer that refuses what a real one would), then the Batch
API poll with a scripted endpoint that fails in every way it can. Properties:

* nothing raises, from the handler or the poll;
* every inference message ends in exactly one place: a row in its task's store
  (whatever the outcome: labeled, review, skipped by rate/budget/duplicate, gold,
  pending), a dead letter naming its source offset with a reason and problems, or
  counted as a redelivery (an event id already stored);
* state stays consistent: one row per event id, pending rows and ``pending_batch``
  outcomes agree, every record sent fits the producer and every dead letter a
  default broker.

1,000 examples per run in the normal suite; ``FUZZ_EXAMPLES=100000 make fuzz``
for the long run (the figures are printed at the end; see the README).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hostile_strategies import (
    FUZZ_COMMON,
    FUZZ_EXAMPLES,
    fuzz_profile,
    integers,
    load_schema,
    message_keys,
    message_values,
    run_fuzz,
    strings,
    valid_strings,
)
from hostile_support import FakeLabeler, FakeProducer, FakeTeacher, record, settings_for
from hypothesis import given, settings
from hypothesis import strategies as st

from distillery.counters import Counters
from distillery.errors import TeacherError, TeacherUnavailableError
from distillery.events import BatchPending, DeadLetter, GoldExample, LabeledExample, ReviewItem, TrainJob
from distillery.validation import parse_inference
from streams.app import MAX_FETCH_BYTES, BatchHandler
from streams.consumer import Batch
from streams.pipeline import Pipeline
from streams.teacher.batch_poll import poll_batches

EXAMPLES = FUZZ_EXAMPLES
PROFILE = fuzz_profile("streams", 1_000)

DEFAULT_BROKER_MAX = 1_048_588
TASKS = ["transactions", "batchy"]

# --------------------------------------------------------------------- inputs
EVENT_FIELDS = {
    "event_id": st.one_of(st.uuids().map(str), st.sampled_from(["dup-1", "dup-2", "dup-3"]), strings(0, 600)),
    "task": st.one_of(st.sampled_from(TASKS), st.sampled_from(TASKS), strings(0, 600)),
    "model": st.one_of(st.just("gpt-4.1"), st.none(), strings(0, 64)),
}
FOREIGN = [
    {"task": "transactions", "drift_id": "d", "signal": "category_mix", "detector": "ADWIN"},
    {"task": "transactions", "event_id": "x", "input": "KROGER", "label": "groceries", "source": "teacher"},
    {"schema_version": 2, "task": "transactions", "event_id": "v2", "input": "x"},
    {"task": "transactions", "reason": "invalid", "source_topic": "t", "source_partition": 0, "source_offset": 1,
     "original_b64": ""},
]
_FRESH = itertools.count()
FRESH_IDS = st.uuids().map(lambda u: f"{u}-{next(_FRESH)}")
"""Ids no other message has (hypothesis repeats the uuids it likes; redeliveries come from DUP_IDS)."""
DUP_IDS = st.sampled_from(["dup-1", "dup-2", "dup-3"])
VALID_EVENT_FIELDS = {
    "event_id": st.integers(0, 9).flatmap(lambda r: FRESH_IDS if r < 7 else DUP_IDS if r < 8 else valid_strings(1, 512)),
    "task": st.sampled_from(TASKS),
    "model": st.one_of(st.just("gpt-4.1"), st.none(), valid_strings(0, 64)),
    "label": st.one_of(st.none(), st.none(), st.none(), st.sampled_from(["groceries", "fuel", "nope"]),
                       st.dictionaries(valid_strings(0, 8), valid_strings(0, 8), max_size=2)),
}
INFERENCE = message_values(load_schema("inference.events"), overrides=EVENT_FIELDS,
                           valid_overrides=VALID_EVENT_FIELDS, foreign=FOREIGN)
DRIFT = message_values(load_schema("drift.events"), overrides={
    "task": st.one_of(st.sampled_from(TASKS), strings(0, 32)), "detected_at_ms": integers()},
    valid_overrides={"task": st.sampled_from(TASKS), "detector": st.just("ADWIN")})

UNAVAILABLE = TeacherUnavailableError("batch to fake: gave up after 3 attempts; last error: ConnectError")
REFUSED = TeacherError("batch to fake refused with HTTP 404: not found")
NO_OUTPUT = TeacherError("batch b ended 'expired' with no output: no detail")
SCRIPTS = st.fixed_dictionaries({
    "submit": st.lists(st.sampled_from([None, None, UNAVAILABLE, REFUSED]), max_size=2),
    "retrieve": st.lists(st.sampled_from([None, None, "in_progress", "failed", "expired", UNAVAILABLE, REFUSED]),
                         max_size=3),
    "collect": st.lists(st.sampled_from(["all", "none", "1", UNAVAILABLE, NO_OUTPUT]), max_size=3),
})
BATCHES = st.lists(st.tuples(st.sampled_from(["inference", "inference", "inference", "drift"]),
                             st.one_of(INFERENCE, INFERENCE, INFERENCE, DRIFT), message_keys(), st.integers(0, 2)),
                   min_size=1, max_size=6)


# --------------------------------------------------------------------- harness
class Harness:
    """One worker (pipeline, handler, stores) fed example after example, checking each."""

    def __init__(self, tmp_path: Path) -> None:
        base = settings_for(tmp_path, base_rate=0.5)
        spec = base.task("transactions")
        batchy = spec.model_copy(update={"name": "batchy", "teacher": spec.teacher.model_copy(update={"batch": True})})
        self.settings = base.with_overrides(tasks={"transactions": spec, "batchy": batchy})
        self.teacher = FakeTeacher(list(spec.labels), refuse=lambda text: text.startswith("ZZ"))
        self.labeler = FakeLabeler(self.teacher, {})
        self.counters = Counters("streams")
        self.pipeline = Pipeline(self.settings, self.counters,
                                 teacher_factory=lambda task: self.teacher,  # type: ignore[arg-type,return-value]
                                 labeler_factory=lambda client: self.labeler)  # type: ignore[arg-type,return-value]
        self.producer = FakeProducer(MAX_FETCH_BYTES)
        self.handler = BatchHandler(self.pipeline, self.settings.topics, self.producer.send)
        self.loop = asyncio.new_event_loop()
        self.offset = 0
        self.stored: set[tuple[str, str]] = set()
        self.figures: collections.Counter[str] = collections.Counter()
        self.started = time.monotonic()

    def close(self) -> None:
        self.loop.run_until_complete(self.pipeline.close())
        self.loop.close()

    def rows(self, task: str, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.pipeline.store(task).query(sql, params or [])

    def run(self, batch: list[tuple[str, bytes | None, bytes | None, int]], script: dict[str, list[Any]]) -> None:
        topics = self.settings.topics
        records = []
        inputs: dict[int, bytes | None] = {}
        for kind, value, key, partition in batch:
            self.offset += 1
            topic = topics.inference if kind == "inference" else topics.drift
            records.append(record(topic, self.offset, value, key, partition))
            if kind == "inference":
                inputs[self.offset] = value
        lo, hi = min(inputs, default=0), max(inputs, default=-1)
        redelivered_before = self.counters.total("redelivered")
        sent_before = len(self.producer.sent)

        self.loop.run_until_complete(self.handler(Batch(records)))  # the worker's own handler: must not raise

        letters = [DeadLetter.model_validate_json(v) for t, _, v in self.producer.sent[sent_before:]
                   if t == topics.deadletter]
        dead = [(d.source_offset, d) for d in letters if d.stage == "ingest"]
        stored: dict[int, tuple[str, str]] = {}
        for task in TASKS:
            for offset, event_id in self.rows(task, "SELECT kafka_offset, event_id FROM events "
                                                    "WHERE kafka_offset BETWEEN ? AND ?", [lo, hi]):
                assert offset not in stored, f"offset {offset} stored twice"
                stored[offset] = (task, event_id)
        dead_offsets = [o for o, _ in dead]
        assert len(dead_offsets) == len(set(dead_offsets)), "an input dead-lettered twice"
        assert not set(dead_offsets) & set(stored), "an input both stored and dead-lettered"
        assert set(dead_offsets) | set(stored) <= set(inputs)
        skipped = [o for o in inputs if o not in stored and o not in dead_offsets]
        assert len(skipped) == self.counters.total("redelivered") - redelivered_before, \
            f"unaccounted inputs at offsets {skipped}"
        self.stored.update(stored.values())
        for o in skipped:  # a redelivery: the same id was stored before, in the same task
            ev = parse_inference(inputs[o], tasks=TASKS).event
            assert ev is not None and (ev.task, ev.event_id) in self.stored, f"input at {o} vanished"
        for _, d in dead:
            assert d.reason and d.problems, d
        self.figures.update(inputs=len(inputs), stored=len(stored), deadlettered=len(dead),
                            redelivered=len(skipped), examples=1,
                            drift=sum(1 for k, *_ in batch if k == "drift"))
        self.figures.update(f"deadletter:{d.reason}" for _, d in dead)
        self.figures.update("truncated_letters" for _, d in dead if getattr(d, "original_truncated", None))

        self.labeler.script = {k: list(v) for k, v in script.items()}
        out = self.loop.run_until_complete(poll_batches(self.pipeline))  # must not raise either
        self.loop.run_until_complete(self.handler.publish(out))
        self.figures.update(poll_labeled=len(out.labeled), poll_review=len(out.review),
                            poll_deadlettered=len(out.deadletters))
        self.check_state(sent_before)

    def check_state(self, sent_before: int) -> None:
        for task in TASKS:
            assert self.rows(task, "SELECT event_id FROM events GROUP BY event_id HAVING count(*) > 1") == []
            assert self.rows(task, "SELECT count(*) FROM pending p LEFT JOIN events e USING (event_id) "
                                   "WHERE e.outcome IS DISTINCT FROM 'pending_batch'") == [(0,)]
            assert self.rows(task, "SELECT count(*) FROM events WHERE outcome = 'pending_batch' "
                                   "AND event_id NOT IN (SELECT event_id FROM pending)") == [(0,)]
        kinds = {self.settings.topics.deadletter: DeadLetter, self.settings.topics.labeled: LabeledExample,
                 self.settings.topics.review: ReviewItem, self.settings.topics.train_jobs: TrainJob,
                 self.settings.topics.gold: GoldExample, self.settings.topics.pending: BatchPending}
        for topic, key, value in self.producer.sent[sent_before:]:
            kinds[topic].model_validate_json(value)
            if topic == self.settings.topics.deadletter:
                assert len(key) + len(value) < DEFAULT_BROKER_MAX
        if len(self.producer.sent) > 10_000:  # a long run: keep memory flat
            self.producer.sent.clear()

    def report(self) -> dict[str, Any]:
        figures = dict(sorted(self.figures.items()))
        outcomes: collections.Counter[str] = collections.Counter()
        for task in TASKS:
            outcomes.update(dict(self.rows(task, "SELECT outcome, count(*) FROM events GROUP BY outcome")))
        return {"profile": "streams-fuzz" if EXAMPLES else "streams-suite", "figures": figures,
                "outcomes": dict(sorted(outcomes.items())), "teacher_calls": self.teacher.calls,
                "batch_errors": self.counters.total("batch_errors"), "batch_online": self.counters.total("batch_online"),
                "seconds": round(time.monotonic() - self.started, 1)}


@pytest.mark.timeout(0 if EXAMPLES else 900)  # a hang guard sized for the suite's examples
def test_inference_consumer_never_raises_and_accounts_for_every_message(tmp_path: Path) -> None:
    harness = Harness(tmp_path)

    @PROFILE
    @given(batch=BATCHES, script=SCRIPTS)
    def one_batch(batch: list[tuple[str, bytes | None, bytes | None, int]], script: dict[str, list[Any]]) -> None:
        harness.run(batch, script)

    try:
        run_fuzz(one_batch)
    finally:
        report = harness.report()
        harness.close()
        print("\nfuzz inference.events:", json.dumps(report))
        out = os.environ.get("FUZZ_REPORT")
        if out:
            Path(out).write_text(json.dumps(report, indent=2) + "\n")
    assert report["figures"]["inputs"] > 0 and report["figures"]["stored"] > 0
    assert report["figures"]["deadlettered"] > 0


def test_the_generator_reaches_every_kind_of_message() -> None:
    """The strategies are not vacuous: they make valid events, invalid ones and non-JSON alike."""
    seen: collections.Counter[str] = collections.Counter()

    @settings(max_examples=300, **FUZZ_COMMON)
    @given(value=INFERENCE)
    def draw(value: bytes | None) -> None:
        seen["valid" if parse_inference(value, tasks=TASKS).ok else parse_inference(value, tasks=TASKS).reason] += 1

    draw()
    assert seen["valid"] > 10 and seen["invalid"] > 10 and seen["not_json"] + seen["not_utf8"] > 0, seen
