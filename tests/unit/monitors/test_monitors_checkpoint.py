"""Checkpoints: a restored monitor continues exactly like one that never stopped; writes are atomic;
an unreadable file is moved aside instead of failing every start."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from distillery.events import LabeledExample
from monitors.alarm import Position
from monitors.checkpoint import CheckpointStore
from monitors.metrics import TaskStats
from monitors.task_monitor import TaskMonitor

TOPIC = "distill.labeled"


def _stream(seed: int = 0, n_before: int = 2000, n_after: int = 1500) -> list[LabeledExample]:
    rng = random.Random(seed)
    out = []
    for i in range(n_before + n_after):
        agree = rng.random() < (0.95 if i < n_before else 0.70)
        out.append(LabeledExample(task="transactions", event_id=f"e{i}", input="x", label="fuel", source="teacher",
                                  student_output="fuel" if agree else "gas", ts_ms=i))
    return out


def _feed(monitor: TaskMonitor, stats: TaskStats, records: list[LabeledExample], first: int) -> list[str]:
    fired = []
    for i, rec in enumerate(records, start=first):
        for alarm in monitor.observe(rec, Position(TOPIC, 2, i)):
            stats.on_alarm(alarm)
            fired.append(alarm.drift_id)
        stats.on_teacher(agree=rec.student_output == rec.label, t_ms=rec.ts_ms, level=monitor.agreement.estimate)
    return fired


def test_a_restored_monitor_continues_exactly_like_an_uninterrupted_one(tmp_path: Path) -> None:
    stream = _stream()
    whole, whole_stats = TaskMonitor("transactions"), TaskStats("transactions")
    fired_whole = _feed(whole, whole_stats, stream, 0)
    assert len(fired_whole) == 1

    store = CheckpointStore(tmp_path, prefix="acme.")
    part, part_stats = TaskMonitor("transactions"), TaskStats("transactions")
    _feed(part, part_stats, stream[:1900], 0)  # stops before the change
    store.save(part, part_stats)
    got = store.load("transactions")
    assert got is not None
    # Kafka redelivers what came after the last commit: those records are skipped, not counted twice
    assert _feed(got.monitor, got.stats, stream[1800:1900], 1800) == []
    assert got.monitor.agreement.events_seen == 1900
    fired_rest = _feed(got.monitor, got.stats, stream[1900:], 1900)
    assert fired_rest == fired_whole
    assert got.monitor.levels() == whole.levels() and got.monitor.offsets == whole.offsets
    assert list(got.stats.agreement)[:19] == list(whole_stats.agreement)[:19]


def test_restoring_after_the_alarm_does_not_raise_it_again(tmp_path: Path) -> None:
    stream = _stream()
    store = CheckpointStore(tmp_path)
    mon, stats = TaskMonitor("transactions"), TaskStats("transactions")
    assert len(_feed(mon, stats, stream[:2600], 0)) == 1
    store.save(mon, stats)
    got = store.load("transactions")
    assert got is not None
    assert _feed(got.monitor, got.stats, stream[2000:], 2000) == []  # replay of the alarm, then the rest
    assert got.stats.alarm_counts[("agreement", "critical")] == 1


def test_saves_replace_the_file_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CheckpointStore(tmp_path)
    mon, stats = TaskMonitor("transactions"), TaskStats("transactions")
    _feed(mon, stats, _stream(n_before=10, n_after=0), 0)
    store.save(mon, stats)
    _feed(mon, stats, _stream(n_before=20, n_after=0)[10:], 10)
    store.save(mon, stats)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["transactions.ckpt"]

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    _feed(mon, stats, _stream(n_before=30, n_after=0)[20:], 20)
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.save(mon, stats)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["transactions.ckpt"]  # no half-written file left
    got = store.load("transactions")
    assert got is not None and got.monitor.agreement.events_seen == 20  # the last complete checkpoint


def test_an_unreadable_checkpoint_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = CheckpointStore(tmp_path)
    store.path("transactions").write_bytes(b"\x80\x05 not a pickle")
    with caplog.at_level(logging.ERROR, logger="distillery.monitors"):
        assert store.load("transactions") is None
    assert (tmp_path / "transactions.corrupt").exists() and not store.path("transactions").exists()
    assert "starting transactions afresh" in caplog.text
    # another task's file under this task's name is refused too
    store.save(TaskMonitor("other"), TaskStats("other"))
    os.replace(store.path("other"), store.path("transactions"))
    assert store.load("transactions") is None
    assert store.load("never-seen") is None


def test_file_names_are_safe_and_deployments_keep_apart(tmp_path: Path) -> None:
    a, b = CheckpointStore(tmp_path, prefix="a."), CheckpointStore(tmp_path, prefix="b.")
    assert a.path("../x/y").parent == tmp_path and a.path("../x/y").name == "a...%2Fx%2Fy.ckpt"
    mon = TaskMonitor("t")
    mon.observe_teacher(rejected=True)
    a.save(mon, TaskStats("t"))
    assert b.load("t") is None
    got = a.load("t")
    assert got is not None and got.monitor.teacher_rejection.events_seen == 1
