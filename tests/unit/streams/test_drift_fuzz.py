"""The streams worker's drift intake fed hostile ``drift.events`` records (issue #13).

Records generated from the contract's schema (``hostile_strategies``: extreme and
future ``detected_at_ms``, huge strings, every Unicode category, wrong types,
missing and extra fields, foreign JSON, non-JSON bytes) go in batches through the
worker's own :func:`streams.app.on_drift_records` and :meth:`Pipeline.on_drift`.
Properties:

* nothing raises;
* every record ends in exactly one place: applied to its task (a drift event of
  a declared task), ignored (a drift event of a task this worker does not run),
  or skipped and logged (not a drift event);
* state stays consistent: no task's drift time or sampling boost lies in the
  future (a future ``detected_at_ms`` counts as now), so no record boosts
  sampling or re-arms the retrain trigger for ever.

Thousands of examples in the suite (1,000-2,000 a consumer); ``FUZZ_EXAMPLES`` for the long run (``make fuzz``).
"""

from __future__ import annotations

import collections
import json
import logging
from pathlib import Path

import pytest
from hostile_strategies import (
    FUZZ_EXAMPLES,
    fuzz_profile,
    integers,
    load_schema,
    message_keys,
    message_values,
    run_fuzz,
    strings,
    valid_integers,
)
from hostile_support import FakeTeacher, record, settings_for
from hypothesis import given
from hypothesis import strategies as st
from log_tap import LogTap

from distillery.counters import Counters
from distillery.events import DriftEvent, now_ms
from streams.app import on_drift_records
from streams.consumer import Batch
from streams.pipeline import Pipeline

PROFILE = fuzz_profile("drift", 2_000)
TASKS = ["transactions", "nope"]
FUTURE = st.sampled_from([2**63 - 1, 10**14, 253402300799999, 4102444800000])
DRIFT = message_values(
    load_schema("drift.events"),
    overrides={"task": st.one_of(st.sampled_from(TASKS), strings(0, 32)), "detected_at_ms": integers()},
    valid_overrides={"task": st.sampled_from(TASKS),
                     "detected_at_ms": st.one_of(FUTURE, valid_integers(), st.integers(0, 2 * 10**12))})


@pytest.mark.timeout(0 if FUZZ_EXAMPLES else 900)  # a hang guard sized for the suite's examples
def test_drift_events_never_raise_and_never_boost_for_ever(tmp_path: Path, fuzz_log: LogTap) -> None:
    settings = settings_for(tmp_path)
    teacher = FakeTeacher(list(settings.task("transactions").labels))
    pipeline = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    applied: list[tuple[str, int]] = []
    on_drift = pipeline.on_drift

    def recording(task: str, at_ms: int) -> None:
        applied.append((task, at_ms))
        on_drift(task, at_ms)

    pipeline.on_drift = recording  # type: ignore[method-assign]
    topic = settings.topics.drift
    figures: collections.Counter[str] = collections.Counter()
    offsets = iter(range(10**9))

    @PROFILE
    @given(batch=st.lists(st.tuples(DRIFT, message_keys()), min_size=1, max_size=8))
    def one_batch(batch: list[tuple[bytes | None, bytes | None]]) -> None:
        records = [record(topic, next(offsets), value, key) for value, key in batch]
        fuzz_log.clear()
        applied.clear()
        on_drift_records(pipeline, Batch(records).raws(topic))  # the worker's own intake: must not raise
        now = now_ms()
        expected = []
        skipped = 0
        for value, _ in batch:
            try:
                expected.append(DriftEvent.model_validate_json(value or b"").task)
            except ValueError:
                skipped += 1
        assert [task for task, _ in applied] == expected  # each valid event applied once, in order
        logged = [r for r in fuzz_log.records if "not a drift event" in r.getMessage()]
        assert len(logged) == skipped  # each invalid one skipped and logged once
        assert not [r for r in fuzz_log.records if r.levelno >= logging.ERROR]
        for task, at_ms in pipeline.drift_ms.items():
            assert task in settings.tasks and at_ms <= now, (task, at_ms)
        boost = settings.task("transactions").sampling.drift_boost_minutes * 60_000
        assert pipeline.sampler.task("transactions").boost_until_ms <= now + boost
        figures.update(examples=1, records=len(batch), skipped=skipped,
                       applied=sum(1 for t in expected if t in settings.tasks),
                       ignored=sum(1 for t in expected if t not in settings.tasks),
                       future=sum(1 for _, at in applied if at > now))

    run_fuzz(one_batch)
    print("\nfuzz drift.events:", json.dumps(figures))
    assert figures["applied"] > 0 and figures["skipped"] > 0 and figures["ignored"] > 0 and figures["future"] > 0
