"""The store's side of people's review decisions: find the item, write the verdict.

:mod:`streams.reviewed` decides what a decision means; here are the rows it
reads and writes. A task's decisions of one batch go in one transaction, each
as a :class:`ReviewWrite`: the review row's new status and, when the decision
gives an answer, the gold row or the human example it becomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streams.store.db import TaskStore


def find_item_row(store: TaskStore, item_id: str) -> tuple[Any, ...] | None:
    """(id, input, teacher answer, teacher confidence, student answer) of the item: a review row
    first, else an example (a person's last), else a gold row; ``None`` when the store has none."""
    rows = store.query("SELECT event_id, input, teacher_output, teacher_confidence, NULL FROM review "
                       "WHERE event_id = ?", [item_id])
    if not rows:
        rows = store.query("SELECT event_id, input, label, teacher_confidence, student_output FROM examples "
                           "WHERE event_id = ? ORDER BY (source = 'human') LIMIT 1", [item_id])
    if not rows:
        rows = store.query("SELECT gold_id, input, teacher_label, teacher_confidence, NULL FROM gold "
                           "WHERE gold_id = ?", [item_id])
    return rows[0] if rows else None


@dataclass(frozen=True)
class ReviewWrite:
    """What one decision writes."""

    event_id: str
    status: str
    """The review row's new status."""
    gold: tuple[Any, ...] | None = None
    """A gold row (``GOLD_COLS`` order) that replaces the item's examples."""
    example: tuple[Any, ...] | None = None
    """A human example (``EXAMPLE_COLS`` order) that replaces the item's earlier human example."""


def write_reviews(store: TaskStore, writes: Sequence[ReviewWrite]) -> None:
    """Write the decisions in order, in one transaction."""
    with store.transaction() as con:
        for w in writes:
            con.execute("UPDATE review SET status = ? WHERE event_id = ?", [w.status, w.event_id])
            if w.gold is not None:
                con.execute("DELETE FROM examples WHERE event_id = ?", [w.event_id])
                con.execute("INSERT OR REPLACE INTO gold VALUES (?, ?, ?, ?, ?, ?, ?, ?)", list(w.gold))
            if w.example is not None:
                con.execute("DELETE FROM examples WHERE event_id = ? AND source = 'human'", [w.event_id])
                con.execute("INSERT INTO examples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(w.example))
