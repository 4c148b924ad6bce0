"""Export a task's training snapshot and gold set to the artifact store.

Both are Parquet files written by DuckDB in a fixed order, then stored under
their SHA-256, so the same data always has the same URI and the same job id: a
repeated trigger on unchanged data never starts a second job.

People outrank the teacher: when a ``human`` example (a review decision, see
:mod:`streams.reviewed`) exists for an input, every other example whose input
normalises alike (:func:`streams.dedupe.normalise`, digits masked for
classification) is left out of the snapshot, so the student never learns the
teacher's label for an input a person labeled. Only exports of a store with
human examples pay for that scan.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from distillery.artifacts import ArtifactStore
from distillery.errors import ArtifactError
from distillery.events import TrainJob, TrainReason
from streams.dedupe import normalise
from streams.snapshot_retention import SnapshotRow, gold_to_delete
from streams.store.db import TaskStore

TEACHER_LABEL = (
    "CASE WHEN x.source = 'human' THEN "
    "(SELECT min(t.label) FROM examples t WHERE t.event_id = x.event_id AND t.source <> 'human') END"
)
"""On a human example, the teacher's label for the same item where that label was one the student
learns from (an example: an audit of a confident answer), the pairs from which the trainer learns
what the teacher gets wrong (:mod:`trainer.teacher_noise`). An item that came for review because
the teacher was unsure has none: its answer never became a training label, and counting it would
overstate how often the teacher's training labels are wrong."""

log = logging.getLogger("distillery.streams")

KEPT = "examples_kept"
"""The view the snapshot is exported from: every example a human label does not outrank."""


@dataclass(frozen=True)
class Snapshot:
    """What an export produced."""

    job: TrainJob
    new: bool


def job_id_for(task: str, snapshot_sha256: str) -> str:
    """The job id of a task's snapshot: the same data always names the same job."""
    return f"{task}-{snapshot_sha256[:16]}"


def outranked(con: duckdb.DuckDBPyConnection, *, mask_digits: bool = True) -> list[str]:
    """Event ids of non-human examples whose input a human example has labeled (alike once normalised)."""
    human = {normalise(text or "", mask_digits=mask_digits)
             for (text,) in con.execute("SELECT input FROM examples WHERE source = 'human'").fetchall()}
    if not human:
        return []
    rows = con.execute("SELECT event_id, input FROM examples WHERE source <> 'human'").fetchall()
    return [event_id for event_id, text in rows if normalise(text or "", mask_digits=mask_digits) in human]


def _keep_view(con: duckdb.DuckDBPyConnection, *, mask_digits: bool) -> None:
    """(Re)create the ``examples_kept`` view: examples minus those a human label outranks."""
    dropped = pa.table({"event_id": pa.array(outranked(con, mask_digits=mask_digits), pa.string())})  # noqa: F841
    con.execute("CREATE OR REPLACE TEMP TABLE examples_outranked AS SELECT event_id FROM dropped")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {KEPT} AS SELECT * FROM examples x WHERE source = 'human' "
                "OR NOT EXISTS (SELECT 1 FROM examples_outranked o WHERE o.event_id = x.event_id)")


def export(store: TaskStore, artifacts: ArtifactStore, task: str, *, reason: TrainReason,
           drift_id: str | None = None, mask_digits: bool = True) -> Snapshot:
    """Write the snapshot and gold set, record the job in the store, and return it.

    ``mask_digits``: how inputs are compared when a human label outranks the
    teacher's (True for classification, as the deduper does).
    """
    with tempfile.TemporaryDirectory() as tmp:
        train = Path(tmp) / "snapshot.parquet"
        gold = Path(tmp) / "gold.parquet"
        with store.connect() as con:
            _keep_view(con, mask_digits=mask_digits)
            con.execute(
                "COPY (SELECT event_id, input, label, category, source, teacher_confidence, split, "
                f"{TEACHER_LABEL} AS teacher_label FROM {KEPT} x ORDER BY event_id, source) TO ? (FORMAT parquet)",
                [str(train)],
            )
            con.execute(
                "COPY (SELECT gold_id, input, label, category, teacher_label, teacher_confidence "
                "FROM gold ORDER BY gold_id) TO ? (FORMAT parquet)",
                [str(gold)],
            )
            counts = con.execute(
                f"SELECT count(*) FILTER (WHERE split = 'train'), count(*) FILTER (WHERE split = 'eval') FROM {KEPT}"
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


def is_published(store: TaskStore, job_id: str) -> bool:
    """Whether the job's event already reached Kafka (:func:`mark_published`)."""
    return bool(store.scalar("SELECT published FROM snapshots WHERE job_id = ?", [job_id]))


def example_counts(store: TaskStore) -> tuple[int, int | None, int]:
    """What the retrain triggers count: (train-split examples, when the last job was published or
    ``None``, examples added since then)."""
    row = store.query(
        "SELECT count(*) FILTER (WHERE split = 'train'), "
        "(SELECT max(created_ms) FROM snapshots WHERE published), "
        "count(*) FILTER (WHERE ingested_ms > coalesce((SELECT max(created_ms) FROM snapshots "
        "WHERE published), 0)) FROM examples"
    )[0]
    return int(row[0] or 0), row[1], int(row[2] or 0)


def snapshot_rows(store: TaskStore) -> list[SnapshotRow]:
    """Every row of the store's ``snapshots`` table, oldest first."""
    rows = store.query("SELECT job_id, uri, gold_uri, created_ms, published FROM snapshots ORDER BY created_ms, job_id")
    return [SnapshotRow(job_id=j, uri=u, gold_uri=g, created_ms=int(c or 0), published=bool(p))
            for j, u, g, c, p in rows]


@dataclass(frozen=True)
class Pruned:
    """What one :func:`delete_snapshots` did: rows (and their files) deleted, rows kept for a later try."""

    deleted: int
    failed: int


def delete_snapshots(store: TaskStore, artifacts: ArtifactStore, task: str, rows: list[SnapshotRow],
                     going: list[SnapshotRow]) -> Pruned:
    """Delete the files of ``going`` (a subset of ``rows``, the whole table) and then their rows.

    A snapshot's gold file goes too when no remaining row names it. A file
    already gone counts as deleted. When a file cannot be deleted, the error is
    logged and the row stays, so the next pass tries again; the worker goes on.
    """
    gold = gold_to_delete(rows, going)
    deleted: list[str] = []
    failed = 0
    for row in going:
        uris = [row.uri] + ([row.gold_uri] if row.gold_uri in gold else [])
        try:
            for uri in uris:
                artifacts.remove(uri)
        except ArtifactError as exc:
            failed += 1
            log.warning("task %s: snapshot of job %s not deleted, tried again at the next pass: %s",
                        task, row.job_id, exc)
            continue
        deleted.append(row.job_id)
    if deleted:
        with store.connect() as con:
            ids = pa.table({"job_id": deleted})  # noqa: F841 - read by name in the SQL
            con.execute("DELETE FROM snapshots WHERE job_id IN (SELECT job_id FROM ids)")
    return Pruned(deleted=len(deleted), failed=failed)
