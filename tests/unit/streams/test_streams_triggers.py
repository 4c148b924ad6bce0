"""The retrain trigger against a store (:func:`streams.triggers.retrain`): counts, export, no second job."""

from __future__ import annotations

from pathlib import Path

from distillery.artifacts import ArtifactStore
from distillery.taskspec import RetrainSpec, TaskSpec
from streams.store.db import StoreBatch, TaskStore
from streams.store.snapshot import example_counts, mark_published
from streams.triggers import retrain

SPEC = TaskSpec(name="t", kind="classification", labels=["fuel", "groceries"],
                retrain=RetrainSpec(min_new_examples=3, cooldown_minutes=0, min_train_examples=2))


def _examples(first: int, n: int, ms: int) -> StoreBatch:
    return StoreBatch(examples=[(f"e{i}", f"SHELL {i}", "fuel", "fuel", "teacher", "m", 0.9, None, "train", 0, ms)
                                for i in range(first, first + n)])


def test_a_count_trigger_exports_once_and_counts_again_from_the_published_job(tmp_path: Path) -> None:
    store, artifacts = TaskStore(tmp_path / "t.duckdb"), ArtifactStore(str(tmp_path / "artifacts"))
    store.write(_examples(0, 2, ms=1_000))
    assert example_counts(store) == (2, None, 2)
    assert retrain(store, artifacts, "t", SPEC, now_ms=10_000, drift_ms=None) is None  # 2 new, 3 needed
    store.write(_examples(2, 1, ms=2_000))
    snap = retrain(store, artifacts, "t", SPEC, now_ms=10_000, drift_ms=None)
    assert snap is not None and snap.new and (snap.job.reason, snap.job.n_train) == ("count", 3)
    again = retrain(store, artifacts, "t", SPEC, now_ms=10_000, drift_ms=None)
    assert again is not None and not again.new and again.job.job_id == snap.job.job_id  # not sent yet
    mark_published(store, snap.job.job_id)
    assert retrain(store, artifacts, "t", SPEC, now_ms=10_000, drift_ms=None) is None  # same data, already sent
    assert example_counts(store)[0] == 3
