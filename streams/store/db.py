"""A task's DuckDB store: batched, idempotent writes from its one writer.

Opening a DuckDB file costs milliseconds, so the writer keeps its connection for
up to ``hold_s`` seconds and then lets go briefly (:meth:`TaskStore.release_if_due`):
readers in other processes (the report, ``distillery gold show``) get their turn,
and a partition that moves to another worker on a rebalance leaves no lock behind
(:meth:`TaskStore.close`). With ``hold_s=0`` every use opens and closes the file.
Every insert is ``INSERT OR IGNORE`` on the event id: Kafka delivers at least
once, and a redelivered event never becomes a second row.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from distillery.errors import ArtifactError
from distillery.settings import Settings
from streams.dedupe import normalise
from streams.store.schema import create

LOCK_RETRY_S = 30.0

EVENT_COLS = ("event_id", "input", "output", "model", "route", "confidence", "category", "outcome", "ts_ms",
              "ingested_ms", "kafka_partition", "kafka_offset", "prompt_tokens", "completion_tokens")
EXAMPLE_COLS = ("event_id", "input", "label", "category", "source", "teacher_model", "teacher_confidence",
                "student_output", "split", "window_id", "ingested_ms")
REVIEW_COLS = ("event_id", "input", "reason", "teacher_output", "teacher_confidence", "status", "ingested_ms")
GOLD_COLS = ("gold_id", "input", "label", "category", "source", "teacher_label", "teacher_confidence", "added_ms")
SPEND_COLS = ("event_id", "cost_usd", "prompt_tokens", "completion_tokens", "batch", "model", "ts_ms")
PENDING_COLS = ("event_id", "input", "event_json", "batch_id", "created_ms")
OUTBOX_COLS = ("record_id", "kind", "record_key", "record_value", "created_ms")


def split_for(text: str, eval_fraction: float) -> str:
    """``train`` or ``eval`` from a stable hash of the normalised input.

    Inputs that normalise alike (store numbers, case, spacing) share a split, so no
    input is ever in both.

    >>> split_for("STARBUCKS #123 SEATTLE", 0.1) == split_for("starbucks  #987 seattle", 0.1)
    True
    """
    h = int.from_bytes(hashlib.blake2b(normalise(text).encode(), digest_size=8).digest(), "big")
    return "eval" if h / 2**64 < eval_fraction else "train"


@dataclass
class StoreBatch:
    """Rows one batch of events adds to each table (tuples in the *_COLS order)."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    examples: list[tuple[Any, ...]] = field(default_factory=list)
    review: list[tuple[Any, ...]] = field(default_factory=list)
    gold: list[tuple[Any, ...]] = field(default_factory=list)
    spend: list[tuple[Any, ...]] = field(default_factory=list)
    pending: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)
    """Records to publish, kept until Kafka has them (see the schema's ``outbox``)."""
    resolved: dict[str, str] = field(default_factory=dict)
    """Pending events that now have an outcome (event id -> outcome)."""

    def __len__(self) -> int:
        return len(self.events) + len(self.gold) + len(self.resolved) + len(self.outbox)


def _table(cols: Sequence[str], rows: list[tuple[Any, ...]]) -> pa.Table:
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})


class TaskStore:
    """One task's DuckDB file."""

    def __init__(self, path: Path, *, hold_s: float = 0.0, read_only: bool = False,
                 memory_limit: str | None = None) -> None:
        self.path = path
        self.hold_s = hold_s
        self.read_only = read_only
        self.memory_limit = memory_limit
        """DuckDB's ``memory_limit`` for this file (``[streams] store_memory_limit``); None: DuckDB's default."""
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened = 0.0
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self.connect() as con:
                create(con)

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Open the file, waiting out another process's lock for a while."""
        deadline = time.monotonic() + LOCK_RETRY_S
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise ArtifactError(f"cannot open store {self.path}: {exc}") from None
                time.sleep(0.02)
                continue
            if self.memory_limit is not None:
                try:
                    con.execute(f"SET memory_limit = '{self.memory_limit.replace(chr(39), '')}'")
                except duckdb.Error as exc:
                    con.close()
                    raise ArtifactError(f"store_memory_limit: DuckDB refused {self.memory_limit!r} ({exc}); "
                                        "give a number and a unit, e.g. 1GB") from None
            return con

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection: the held one, or a fresh one closed after use when nothing is held."""
        if self.hold_s <= 0:
            con = self._open()
            try:
                yield con
            finally:
                con.close()
            return
        if self._con is None:
            self._con = self._open()
            self._opened = time.monotonic()
        yield self._con

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection inside one transaction: committed at the end, rolled back on an error."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

    def release_if_due(self) -> bool:
        """Close a connection held longer than ``hold_s``; True when it did."""
        if self._con is not None and time.monotonic() - self._opened >= self.hold_s:
            self.close()
            return True
        return False

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def write(self, batch: StoreBatch) -> None:
        """Insert a batch in one transaction; rows whose key exists already are ignored."""
        with self.transaction() as con:
            for name, cols, rows, keyed in (
                ("events", EVENT_COLS, batch.events, False),
                ("examples", EXAMPLE_COLS, batch.examples, False),
                ("review", REVIEW_COLS, batch.review, True),
                ("gold", GOLD_COLS, batch.gold, True),
                ("spend", SPEND_COLS, batch.spend, True),
                ("pending", PENDING_COLS, batch.pending, True),
                ("outbox", OUTBOX_COLS, batch.outbox, True),
            ):
                if rows:
                    staged = _table(cols, rows)  # noqa: F841 - read by name in the SQL below
                    verb = "INSERT OR IGNORE" if keyed else "INSERT"  # see schema: unkeyed hot tables
                    con.execute(f"{verb} INTO {name} SELECT * FROM staged")
            for event_id, outcome in batch.resolved.items():
                con.execute("UPDATE events SET outcome = ? WHERE event_id = ?", [outcome, event_id])
                con.execute("DELETE FROM pending WHERE event_id = ?", [event_id])

    def high_water(self) -> dict[int, int]:
        """The highest stored Kafka offset per partition: anything above it is new for sure."""
        return {int(p): int(o) for p, o in self.query(
            "SELECT kafka_partition, max(kafka_offset) FROM events WHERE kafka_partition IS NOT NULL GROUP BY 1")}

    def outbox(self) -> list[tuple[str, str, bytes, bytes]]:
        """Records written but not yet known to be published: (record id, kind, key, value), oldest first."""
        return [(str(r[0]), str(r[1]), bytes(r[2]), bytes(r[3])) for r in self.query(
            "SELECT record_id, kind, record_key, record_value FROM outbox ORDER BY created_ms, record_id")]

    def outbox_done(self, record_ids: Sequence[str]) -> None:
        """Forget records Kafka has acknowledged."""
        if not record_ids:
            return
        with self.connect() as con:
            ids = pa.table({"record_id": list(record_ids)})  # noqa: F841 - read by name in the SQL
            con.execute("DELETE FROM outbox WHERE record_id IN (SELECT record_id FROM ids)")

    def prune_events(self, before_ms: int) -> int:
        """Delete ``events`` rows ingested before ``before_ms``; how many went.

        The newest row of each partition is kept, so the high-water mark (what is
        new for sure) survives an idle stream.
        """
        with self.connect() as con:
            row = con.execute(
                "DELETE FROM events WHERE ingested_ms < ? AND (kafka_partition, kafka_offset) NOT IN "
                "(SELECT kafka_partition, max(kafka_offset) FROM events WHERE kafka_partition IS NOT NULL GROUP BY 1)",
                [before_ms]).fetchone()
        return int(row[0]) if row else 0

    def spent_since(self, ms: int) -> float:
        """USD of teacher calls recorded at or after epoch milliseconds ``ms``."""
        return float(self.scalar("SELECT coalesce(sum(cost_usd), 0) FROM spend WHERE ts_ms >= ?", [ms]) or 0.0)

    def known(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these events are already stored (a redelivery: no second teacher call)."""
        if not event_ids:
            return set()
        with self.connect() as con:
            ids = pa.table({"event_id": list(event_ids)})  # noqa: F841 - read by name in the SQL
            rows = con.execute("SELECT e.event_id FROM events e JOIN ids USING (event_id)").fetchall()
        return {r[0] for r in rows}

    def source_of(self, event_id: str) -> tuple[int, int] | None:
        """The Kafka partition and offset the event was read at; ``None`` when unknown."""
        rows = self.query("SELECT kafka_partition, kafka_offset FROM events WHERE event_id = ? LIMIT 1", [event_id])
        return (rows[0][0], rows[0][1]) if rows and rows[0][0] is not None else None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query and return all rows."""
        with self.connect() as con:
            return con.execute(sql, list(params)).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None


def store_path(settings: Settings, task: str) -> Path:
    """The task's DuckDB file."""
    return settings.data_dir / "store" / f"{settings.topic_prefix}{task}.duckdb"
