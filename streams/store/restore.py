"""The store's side of a restore (:mod:`streams.restore`): merge the rows read back, keep positions.

:func:`merge` adds, in one transaction, the rows of the records read from the
restore topics that the store lacks (each table keyed as its topic is), marks
sent jobs published, joins waiting events to the Batch API job they were sent
in, and gives an outcome to the waits that ended. The ``meta`` table keeps
where each read stopped (:func:`meta`, :func:`put_meta`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from streams.store.db import (
    EVENT_COLS,
    EXAMPLE_COLS,
    GOLD_COLS,
    PENDING_COLS,
    REVIEW_COLS,
    SPEND_COLS,
    TaskStore,
)

SNAPSHOT_COLS = ("job_id", "sha256", "uri", "gold_uri", "n_train", "n_eval", "reason", "created_ms", "published")

_TYPES = {"model": pa.string(), "route": pa.string(), "confidence": pa.float64(), "category": pa.string(),
          "output": pa.string(), "kafka_partition": pa.int32(), "kafka_offset": pa.int64(),
          "prompt_tokens": pa.int32(), "completion_tokens": pa.int32(), "teacher_model": pa.string(),
          "teacher_confidence": pa.float64(), "student_output": pa.string(), "teacher_output": pa.string(),
          "teacher_label": pa.string(), "cost_usd": pa.float64(), "batch": pa.bool_(), "label": pa.string(),
          "batch_id": pa.string(), "event_json": pa.string(),
          "gold_uri": pa.string(), "n_train": pa.int32(), "n_eval": pa.int32(), "created_ms": pa.int64()}

TABLES = (
    ("events", EVENT_COLS, "NOT EXISTS (SELECT 1 FROM events t WHERE t.event_id = s.event_id)"),
    ("examples", EXAMPLE_COLS, "NOT EXISTS (SELECT 1 FROM examples t WHERE t.event_id = s.event_id "
                               "AND t.source = s.source)"),
    ("review", REVIEW_COLS, "NOT EXISTS (SELECT 1 FROM review t WHERE t.event_id = s.event_id)"),
    ("gold", GOLD_COLS, "NOT EXISTS (SELECT 1 FROM gold t WHERE t.gold_id = s.gold_id)"),
    ("spend", SPEND_COLS, "NOT EXISTS (SELECT 1 FROM spend t WHERE t.event_id = s.event_id)"),
    ("pending", PENDING_COLS, "NOT EXISTS (SELECT 1 FROM pending t WHERE t.event_id = s.event_id)"),
    ("snapshots", SNAPSHOT_COLS, "NOT EXISTS (SELECT 1 FROM snapshots t WHERE t.job_id = s.job_id)"),
)
"""The tables a restore fills, in order, with the condition that keeps a row out when the store has it."""


def _staged(cols: Sequence[str], rows: list[tuple[Any, ...]], types: dict[str, pa.DataType]) -> pa.Table:
    return pa.table({c: pa.array([r[i] for r in rows], types.get(c)) for i, c in enumerate(cols)})


@dataclass
class Merged:
    """What a merge added."""

    added: dict[str, int]
    """Rows added per table (``examples``, ``review``, ``gold``, ``pending``)."""
    spend_usd: float = 0.0
    """USD of the spend rows added."""


def merge(store: TaskStore, tables: Mapping[str, list[tuple[Any, ...]]], resolved: Mapping[str, str]) -> Merged:
    """Add the rows of ``tables`` (name -> rows in :data:`TABLES` column order) the store lacks, and give the
    ``resolved`` waits (event id -> outcome) their outcome, in one transaction."""
    done = Merged(added={})
    with store.transaction() as con:
        for name, cols, new_only in TABLES:
            table_rows = tables.get(name) or []
            if not table_rows:
                continue
            s = _staged(cols, table_rows, _TYPES)  # noqa: F841 - read by name in the SQL below
            before = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            if name == "spend":
                added = con.execute("SELECT coalesce(sum(cost_usd), 0) FROM s WHERE NOT EXISTS "
                                    "(SELECT 1 FROM spend t WHERE t.event_id = s.event_id)").fetchone()
                done.spend_usd = float(added[0]) if added else 0.0
            con.execute(f"INSERT INTO {name} SELECT * FROM s WHERE {new_only}")
            after = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            if name == "pending":  # a job submitted since the store last saw the event
                con.execute("UPDATE pending SET batch_id = s.batch_id FROM s WHERE pending.event_id = s.event_id "
                            "AND pending.batch_id IS NULL AND s.batch_id IS NOT NULL")
            if name == "snapshots":  # the job reached Kafka: whoever exported it, it counts as sent
                con.execute("UPDATE snapshots SET published = true WHERE job_id IN (SELECT job_id FROM s)")
            if name in ("examples", "review", "gold", "pending") and before and after:
                done.added[name] = int(after[0]) - int(before[0])
        if resolved:  # waits a label or review item ended (read now, or earlier and stored)
            r = pa.table({"event_id": list(resolved), "outcome": list(resolved.values())})  # noqa: F841
            con.execute("DELETE FROM pending WHERE event_id IN (SELECT event_id FROM r)")
            con.execute("UPDATE events SET outcome = r.outcome FROM r WHERE events.event_id = r.event_id "
                        "AND events.outcome = 'pending_batch'")
    return done


def meta(store: TaskStore, prefix: str) -> list[tuple[str, str]]:
    """The ``meta`` entries whose key starts with ``prefix``: (key, value)."""
    return [(str(k), str(v)) for k, v in store.query(
        "SELECT key, value FROM meta WHERE starts_with(key, ?)", [prefix])]


def put_meta(store: TaskStore, values: Sequence[tuple[str, str]]) -> None:
    """Set ``meta`` entries (key, value), replacing any of the same key."""
    if values:
        with store.connect() as con:
            con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [list(v) for v in values])


def backfill_rows(store: TaskStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows a store kept before ``distill.gold`` and ``distill.pending`` existed: its teacher-pinned
    gold rows with what pinning them cost, oldest first, and its waiting events, oldest first."""
    gold = store.query(
        "SELECT g.gold_id, g.input, g.label, g.category, g.source, g.teacher_label, g.teacher_confidence, "
        "g.added_ms, s.model, coalesce(s.cost_usd, 0), coalesce(s.prompt_tokens, 0), "
        "coalesce(s.completion_tokens, 0), coalesce(s.batch, false) "
        "FROM gold g LEFT JOIN spend s ON s.event_id = g.gold_id WHERE g.source <> 'human' ORDER BY g.added_ms")
    waiting = store.query("SELECT event_id, input, event_json, batch_id, created_ms FROM pending ORDER BY created_ms")
    return gold, waiting


def has_meta(store: TaskStore, key: str) -> bool:
    """Whether the ``meta`` table has ``key``."""
    return bool(store.scalar("SELECT count(*) FROM meta WHERE key = ?", [key]))


def stage_outbox(store: TaskStore, rows: Sequence[Sequence[Any]], meta_entry: tuple[str, str]) -> None:
    """Put ``rows`` (``OUTBOX_COLS`` order) in the outbox and set one ``meta`` entry, in one transaction."""
    with store.transaction() as con:
        if rows:
            con.executemany("INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?, ?)", [list(r) for r in rows])
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta_entry))
