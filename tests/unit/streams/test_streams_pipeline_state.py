"""A task's state the pipeline holds in memory cannot be pushed out of bounds or lost (issue #13).

Before: a drift event's ``detected_at_ms`` far ahead boosted sampling until then and
the retrain trigger (drift newer than the last job) fired after every job for ever;
the teacher budget started at zero after every restart or rebalance.
"""

from __future__ import annotations

import time
from pathlib import Path

from hostile_support import settings_for

from distillery.counters import Counters
from streams.pipeline import Pipeline


async def test_a_future_drift_time_is_clamped_to_now(tmp_path: Path) -> None:
    pipeline = Pipeline(settings_for(tmp_path), Counters("streams"))
    try:
        before = int(time.time() * 1000)
        pipeline.on_drift("transactions", before + 10 * 365 * 86_400_000)
        after = int(time.time() * 1000)
        assert before <= pipeline.drift_ms["transactions"] <= after
        boost = pipeline.sampler.task("transactions").boost_until_ms
        minutes = pipeline.settings.task("transactions").sampling.drift_boost_minutes
        assert boost <= after + minutes * 60_000
        pipeline.on_drift("transactions", 1_000)  # an old one changes nothing
        assert before <= pipeline.drift_ms["transactions"] <= after
    finally:
        await pipeline.close()


async def test_a_worker_that_takes_a_task_reads_its_spend_back_from_the_store(tmp_path: Path) -> None:
    """Before: the budget lived in memory, so a restart or rebalance started the hour and the day at zero."""
    from hostile_support import FakeTeacher

    from distillery.events import InferenceEvent
    from streams.source import Source

    settings = settings_for(tmp_path)
    teacher = FakeTeacher(list(settings.task("transactions").labels))
    events = [InferenceEvent(event_id=f"ev-{i}", task="transactions", input=f"MERCHANT {i} {'QWERTY'[i % 6] * 3}",
                             ts=1_780_000_000_000 + i) for i in range(4)]
    first = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        await first.process([(e.to_json(), b"transactions", Source("inference.events", 0, i))
                             for i, e in enumerate(events)])
        spent = first.sampler.task("transactions").budget.spent_day
    finally:
        await first.close()
    assert teacher.calls > 0 and spent > 0
    second = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        await second.process([(events[0].to_json(), b"transactions", Source("inference.events", 0, 0))])  # redelivery
        budget = second.sampler.task("transactions").budget
        assert abs(budget.spent_day - spent) < 1e-12 and abs(budget.spent_hour - spent) < 1e-12
        second.revoked()  # taken away and given back: read again, not added twice
        await second.process([(events[1].to_json(), b"transactions", Source("inference.events", 0, 1))])
        assert abs(budget.spent_day - spent) < 1e-12
    finally:
        await second.close()


async def test_event_rows_past_their_retention_are_deleted_and_the_high_water_mark_stays(tmp_path: Path) -> None:
    """Before: the events table grew for ever."""
    import duckdb
    from hostile_support import FakeTeacher

    from distillery.events import InferenceEvent
    from streams.source import Source
    from streams.store.db import store_path

    settings = settings_for(tmp_path)
    teacher = FakeTeacher(list(settings.task("transactions").labels))
    events = [InferenceEvent(event_id=f"ev-{i}", task="transactions", input=f"SHOP {i} {'QWERTYUIOP'[i] * 3}",
                             ts=1_780_000_000_000 + i) for i in range(10)]

    def raws(idx: range) -> list:  # type: ignore[type-arg]
        return [(events[i].to_json(), b"transactions", Source("inference.events", i % 2, i)) for i in idx]

    first = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        await first.process(raws(range(6)))
    finally:
        await first.close()
    path = store_path(settings, "transactions")
    con = duckdb.connect(str(path))
    con.execute("UPDATE events SET ingested_ms = 0")  # ingested long ago
    con.close()
    calls = teacher.calls
    second = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        await second.process(raws(range(6)))  # only redeliveries: recognised, then the old rows go
        assert teacher.calls == calls
        assert second.counters.get("transactions", "events_pruned") == 4  # all but the newest of each partition
        second.store("transactions").close()
        kept = sorted(r[0] for r in duckdb.connect(str(path), read_only=True).execute(
            "SELECT event_id FROM events").fetchall())
        assert kept == ["ev-4", "ev-5"]
        assert second.store("transactions").high_water() == {0: 4, 1: 5}
    finally:
        await second.close()
