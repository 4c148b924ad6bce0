"""Export a task's training snapshot and gold set to the artifact store.

Both are Parquet files written by DuckDB in a fixed order, then stored under
their SHA-256, so the same data always has the same URI and the same job id: a
repeated trigger on unchanged data never starts a second job.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from distillery.artifacts import ArtifactStore
from distillery.events import TrainJob, TrainReason
from streams.store.db import TaskStore


@dataclass(frozen=True)
class Snapshot:
    """What an export produced."""

    job: TrainJob
    new: bool


def job_id_for(task: str, snapshot_sha256: str) -> str:
    """The job id of a task's snapshot: the same data always names the same job."""
    return f"{task}-{snapshot_sha256[:16]}"


def export(store: TaskStore, artifacts: ArtifactStore, task: str, *, reason: TrainReason,
           drift_id: str | None = None) -> Snapshot:
    """Write the snapshot and gold set, record the job in the store, and return it."""
    with tempfile.TemporaryDirectory() as tmp:
        train = Path(tmp) / "snapshot.parquet"
        gold = Path(tmp) / "gold.parquet"
        with store.connect() as con:
            con.execute(
                "COPY (SELECT event_id, input, label, category, source, teacher_confidence, split "
                "FROM examples ORDER BY event_id) TO ? (FORMAT parquet)",
                [str(train)],
            )
            con.execute(
                "COPY (SELECT gold_id, input, label, category, teacher_label, teacher_confidence "
                "FROM gold ORDER BY gold_id) TO ? (FORMAT parquet)",
                [str(gold)],
            )
            counts = con.execute(
                "SELECT count(*) FILTER (WHERE split = 'train'), count(*) FILTER (WHERE split = 'eval') FROM examples"
            ).fetchone()
        n_train, n_eval = (int(counts[0]), int(counts[1])) if counts else (0, 0)
        uri, digest = artifacts.put_file(train, f"snapshots/{task}", suffix=".parquet")
        gold_uri, _ = artifacts.put_file(gold, f"gold/{task}", suffix=".parquet")
    job = TrainJob(task=task, job_id=job_id_for(task, digest), snapshot_uri=uri, snapshot_sha256=digest,
                   gold_uri=gold_uri, n_train=n_train, n_eval=n_eval, reason=reason, drift_id=drift_id)
    seen = store.scalar("SELECT count(*) FROM snapshots WHERE job_id = ?", [job.job_id])
    if not seen:
        with store.connect() as con:
            con.execute(
                "INSERT OR IGNORE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, false)",
                [job.job_id, digest, uri, gold_uri, n_train, n_eval, reason, job.created_at_ms],
            )
    return Snapshot(job, new=not seen)


def mark_published(store: TaskStore, job_id: str) -> None:
    """Note that the job's event reached Kafka."""
    with store.connect() as con:
        con.execute("UPDATE snapshots SET published = true WHERE job_id = ?", [job_id])
