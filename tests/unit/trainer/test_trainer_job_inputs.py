"""A train job whose snapshot cannot be read is rejected with the reason, never a crash of the worker."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fsspec.registry import known_implementations, register_implementation

from distillery.events import AdapterRejected, TrainJob
from distillery.settings import Settings
from monitors.handlers import read_reference
from trainer.job import run_job


@pytest.fixture
def no_backend() -> Iterator[str]:
    """A protocol whose fsspec backend is not installed here (as s3:// is without s3fs)."""
    register_implementation("distillerytestfs", "distillery_no_such_backend.FS", errtxt="not here", clobber=True)
    yield "distillerytestfs://bucket/snapshots/transactions/" + "0" * 64 + ".parquet"
    known_implementations.pop("distillerytestfs", None)


def job(uri: str) -> TrainJob:
    return TrainJob(task="transactions", job_id="j-1", snapshot_uri=uri, snapshot_sha256="0" * 64)


def test_a_snapshot_uri_without_its_backend_is_a_rejected_job(settings_factory, no_backend: str) -> None:
    settings: Settings = settings_factory()
    verdict = run_job(job(no_backend), settings, progress=False)
    assert isinstance(verdict, AdapterRejected) and verdict.failed_rules == ["input"]
    assert "pip install distillery_no_such_backend" in verdict.reason and no_backend in verdict.reason


@pytest.mark.parametrize("uri", ["zip://x::zip://::file://{tmp}/a.zip",  # KeyError inside fsspec
                                 "zip://x::file://{tmp}/not-a.zip",  # zipfile.BadZipFile
                                 "nosuchprotocol://x/y"])
def test_an_odd_snapshot_uri_is_a_rejected_job(settings_factory, tmp_path: Path, uri: str) -> None:
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("x", b"")
    (tmp_path / "not-a.zip").write_bytes(b"not a zip")
    uri = uri.format(tmp=tmp_path)
    verdict = run_job(job(uri), settings_factory(), progress=False)
    assert isinstance(verdict, AdapterRejected) and f"cannot read artifact {uri}" in verdict.reason


def test_the_monitors_read_it_as_an_artifact_error_they_log_and_skip(no_backend: str, tmp_path: Path) -> None:
    from distillery.errors import ArtifactError
    from distillery.events import AdapterPublished, GateMetrics, ModelScores

    adapter = AdapterPublished(task="transactions", adapter_id="a-1", job_id="j-1", uri="/x", sha256="0" * 64,
                               base_model="b", student_prompt="", snapshot_uri=no_backend,
                               metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))
    with pytest.raises(ArtifactError, match="pip install distillery_no_such_backend"):
        read_reference(adapter, job(no_backend), tmp_path)


def test_the_gate_refuses_to_judge_on_gold_without_a_category_now_common(settings_factory, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from distillery.artifacts import ArtifactStore

    settings: Settings = settings_factory()
    n = max(100, settings.task("transactions").retrain.min_train_examples)
    cats = ["fuel"] * (n * 7 // 10) + ["ev_charging"] * (n - n * 7 // 10)
    snap = tmp_path / "snap.parquet"
    pq.write_table(pa.table({"event_id": [f"e{i}" for i in range(n)], "input": [f"SHELL {i}" for i in range(n)],
                             "label": cats, "category": cats, "split": ["train"] * n}), snap)
    gold = tmp_path / "gold.parquet"
    pq.write_table(pa.table({"gold_id": [f"g{i}" for i in range(30)], "input": [f"BP {i}" for i in range(30)],
                             "label": ["fuel"] * 30, "category": ["fuel"] * 30, "teacher_label": ["fuel"] * 30}), gold)
    store = ArtifactStore(settings.artifact_root)
    uri, digest = store.put_file(snap, "snapshots/transactions", suffix=".parquet")
    gold_uri, _ = store.put_file(gold, "gold/transactions", suffix=".parquet")
    verdict = run_job(TrainJob(task="transactions", job_id="j-2", snapshot_uri=uri, snapshot_sha256=digest,
                               gold_uri=gold_uri), settings, progress=False)
    assert isinstance(verdict, AdapterRejected) and verdict.failed_rules == ["gold_coverage"]
    assert verdict.reason.startswith("the gold set (30 rows) has no row of ev_charging (30% of the training snapshot)")
