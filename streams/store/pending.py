"""The ``pending`` table: events waiting for a Batch API job, and the job each was sent in.

An event stored ``pending_batch`` waits here with no job (``batch_id`` NULL)
until the next poll sends it (:mod:`streams.teacher.batch_poll`); the job's id
and the records that announce it on ``distill.pending`` are written in one
transaction, and the event leaves the table when it gets its outcome
(:meth:`streams.store.db.TaskStore.write`, ``StoreBatch.resolved``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streams.store.db import TaskStore

SUBMIT_LIMIT = 5000
"""At most this many waiting events go into one Batch API job."""


def unsent(store: TaskStore, *, limit: int = SUBMIT_LIMIT) -> list[tuple[str, str]]:
    """Waiting events not yet in a job: (event id, redacted input), at most ``limit``."""
    return [(str(e), str(i)) for e, i in store.query(
        "SELECT event_id, input FROM pending WHERE batch_id IS NULL LIMIT ?", [limit])]


def unsent_events(store: TaskStore, *, limit: int | None = SUBMIT_LIMIT) -> list[tuple[str, str]]:
    """Waiting events not yet in a job: (event id, event JSON), at most ``limit`` (``None``: all)."""
    sql = "SELECT event_id, event_json FROM pending WHERE batch_id IS NULL"
    rows = store.query(sql) if limit is None else store.query(f"{sql} LIMIT ?", [limit])
    return [(str(e), str(j)) for e, j in rows]


def job_ids(store: TaskStore) -> list[str]:
    """The Batch API jobs that still have waiting events."""
    return [str(r[0]) for r in store.query("SELECT DISTINCT batch_id FROM pending WHERE batch_id IS NOT NULL")]


def in_job(store: TaskStore, batch_id: str) -> list[tuple[str, str]]:
    """The events sent in job ``batch_id`` that wait for their outcome: (event id, event JSON)."""
    return [(str(e), str(j)) for e, j in store.query(
        "SELECT event_id, event_json FROM pending WHERE batch_id = ?", [batch_id])]


def mark_sent(store: TaskStore, batch_id: str, event_ids: Sequence[str], outbox: Sequence[Sequence[Any]]) -> None:
    """Note the job the events went in and stage its ``outbox`` rows, in one transaction."""
    with store.transaction() as con:
        con.executemany("UPDATE pending SET batch_id = ? WHERE event_id = ?",
                        [[batch_id, event_id] for event_id in event_ids])
        if outbox:
            con.executemany("INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?, ?)", [list(r) for r in outbox])
