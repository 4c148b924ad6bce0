"""Values the contract used to accept and a consumer then crashed on (issue #13).

``"ts": "0001-01-01"`` validated, then ``InferenceEvent.ts_ms()`` raised ``year 0 is
out of range`` in the streams rows and the monitors' task monitor; ``usage`` token
counts past 2**31 - 1 validated, then the store's INTEGER column refused them after
the teacher was paid. Both are now refused up front, naming the field, the value
and the range, so the event is dead-lettered instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillery.events import INT32_MAX, InferenceEvent
from distillery.settings import load_settings
from distillery.validation import parse_inference
from streams.rows import event_row
from streams.source import Source
from streams.store.db import StoreBatch, TaskStore

ROOT = Path(__file__).resolve().parents[3]
TASKS = {"transactions"}


def _raw(**fields: object) -> bytes:
    return json.dumps({"event_id": "e-1", "task": "transactions", "input": "KROGER #12", **fields}).encode()


@pytest.mark.parametrize("ts", [
    "0001-01-01",  # year 0 once made local
    "0001-01-01T00:00:00+14:00",  # an offset that moves it before year 1
    "9999-12-31T23:59:59-14:00",  # ... or after year 9999
    "1969-12-31T23:59:59Z",  # before the epoch, which epoch milliseconds cannot hold
    "6000-01-01T00:00:00Z",  # past 10**14 ms, the same bound as an integer ts
])
def test_a_time_the_store_cannot_keep_is_refused_naming_field_value_and_range(ts: str) -> None:
    parsed = parse_inference(_raw(ts=ts), tasks=TASKS)
    assert (parsed.ok, parsed.reason) == (False, "invalid")
    [problem] = parsed.problems
    assert problem.startswith("ts: expected a time between 1970-01-01T00:00:00Z and 5138-11-16T09:46:39Z")
    assert json.dumps(ts) in problem


@pytest.mark.parametrize(("ts", "ms"), [
    ("1970-01-01T00:00:00Z", 0),
    ("2026-03-01T10:00:00", 1772359200000),  # no offset: UTC, the same on every worker
    ("2026-03-01T11:00:00.123+01:00", 1772359200123),
    ("5138-11-16T09:46:39.999Z", 10**14 - 1),
    (10**14 - 1, 10**14 - 1),
])
def test_every_accepted_time_converts_without_raising(ts: str | int, ms: int) -> None:
    parsed = parse_inference(_raw(ts=ts), tasks=TASKS)
    assert parsed.event is not None and parsed.event.ts_ms() == ms


def test_ts_ms_of_an_unvalidated_event_is_none_not_an_exception() -> None:
    ev = InferenceEvent.model_construct(event_id="e", task="t", input="x", ts="0001-01-01")
    assert ev.ts_ms() is None


@pytest.mark.parametrize("field", ["prompt_tokens", "completion_tokens"])
@pytest.mark.parametrize("value", [INT32_MAX + 1, 2**63, 2**64, 10**30])
def test_token_counts_past_the_integer_column_are_refused(field: str, value: int) -> None:
    parsed = parse_inference(_raw(usage={field: value}), tasks=TASKS)
    assert (parsed.ok, parsed.reason) == (False, "invalid")
    assert parsed.problems == [f"usage.{field}: expected less than or equal to 2147483647, got int {value}"]


def test_the_largest_accepted_values_are_stored(tmp_path: Path) -> None:
    spec = load_settings(ROOT / "distillery.toml", env={}).task("transactions")
    parsed = parse_inference(_raw(ts=10**14 - 1, confidence=1.0,
                                  usage={"prompt_tokens": INT32_MAX, "completion_tokens": INT32_MAX}), tasks=TASKS)
    assert parsed.event is not None
    store = TaskStore(tmp_path / "t.duckdb")
    store.write(StoreBatch(events=[event_row(parsed.event, "KROGER #12", spec, "skip_rate",
                                             Source("inference.events", 2**31 - 1, 2**62))]))
    assert store.query("SELECT ts_ms, prompt_tokens, completion_tokens FROM events") == [
        (10**14 - 1, INT32_MAX, INT32_MAX)]
