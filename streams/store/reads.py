"""What other processes read from a task's store: the report and ``distillery gold show``.

They open the file read-only (:class:`~streams.store.db.TaskStore` with
``read_only=True``), waiting out the streams worker's lock; the rows come back
as the tables hold them, for the caller to shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distillery.answers import decode, same_answer
from streams.store.db import TaskStore

TEACHER_SOURCES = "('teacher', 'teacher_batch')"
"""Example sources whose label is not the student's own answer (``production`` on a student-routed event is)."""


@dataclass(frozen=True)
class ReportRows:
    """The store's side of a report, one aggregate or list of rows per field."""

    events: tuple[Any, ...]
    """count, first and last time, mean input length, routed to the student, routed to the teacher."""
    teacher_usage: tuple[Any, ...]
    """count, mean prompt and completion tokens of teacher-answered production events."""
    student_usage: tuple[Any, ...]
    """The same of student-answered production events."""
    spend: tuple[Any, ...]
    """Labeling calls: count, USD, mean prompt and completion tokens."""
    gold_count: int
    gold_added_ms: list[int]
    gold_by_category: list[tuple[Any, ...]]
    """(category, count)."""
    answered: list[tuple[str, str, str | None, str | None]]
    """(event id, student answer, ground truth, teacher label) on student-routed events with a known answer."""
    pairs: list[tuple[Any, ...]]
    """(window id, label, student answer) of the examples that carry the student's answer, by window."""


def report_rows(store: TaskStore, teacher_model: str) -> ReportRows:
    """Everything the report reads from one task's store, in one connection."""
    with store.connect() as con:
        ev = con.execute(
            "SELECT count(*), min(coalesce(ts_ms, ingested_ms)), max(coalesce(ts_ms, ingested_ms)), "
            "avg(length(input)), count(*) FILTER (WHERE route = 'student'), "
            "count(*) FILTER (WHERE route = 'teacher') FROM events").fetchone()
        teacher = con.execute(
            "SELECT count(*), avg(prompt_tokens), avg(completion_tokens) FROM events WHERE prompt_tokens > 0 "
            "AND (route = 'teacher' OR (route IS NULL AND model = ?))", [teacher_model]).fetchone()
        student = con.execute(
            "SELECT count(*), avg(prompt_tokens), avg(completion_tokens) FROM events "
            "WHERE prompt_tokens > 0 AND route = 'student'").fetchone()
        spend = con.execute(
            "SELECT count(*), coalesce(sum(cost_usd), 0), avg(prompt_tokens), avg(completion_tokens) "
            "FROM spend").fetchone()
        gold = con.execute("SELECT count(*) FROM gold").fetchone()
        gold_added = [int(r[0]) for r in con.execute("SELECT added_ms FROM gold WHERE added_ms IS NOT NULL "
                                                     "ORDER BY added_ms").fetchall()]
        gold_cats = con.execute("SELECT category, count(*) FROM gold WHERE category IS NOT NULL "
                                "GROUP BY category").fetchall()
        # what the student answered on routed traffic, beside the known answer for the same event:
        # ground truth (the gold table) first, else the teacher's label (the examples table)
        checked = con.execute(
            "SELECT e.event_id, e.output, g.label, x.label FROM events e "
            "LEFT JOIN gold g ON g.gold_id = e.event_id "
            f"LEFT JOIN examples x ON x.event_id = e.event_id AND x.source IN {TEACHER_SOURCES} "
            "WHERE e.route = 'student' AND e.output IS NOT NULL "
            "AND (g.label IS NOT NULL OR x.label IS NOT NULL)").fetchall()
        pairs = con.execute(
            "SELECT window_id, label, student_output FROM examples "
            "WHERE student_output IS NOT NULL AND label IS NOT NULL ORDER BY window_id").fetchall()
    assert ev is not None and spend is not None and gold is not None  # aggregates always return a row
    return ReportRows(events=tuple(ev), teacher_usage=tuple(teacher or ()), student_usage=tuple(student or ()),
                      spend=tuple(spend), gold_count=int(gold[0]), gold_added_ms=gold_added,
                      gold_by_category=list(gold_cats), answered=list(checked), pairs=list(pairs))


def gold_by_category(store: TaskStore) -> list[tuple[str | None, int, float]]:
    """(category, examples, share where the pinned teacher answer is the label), largest first.

    "Is the label" is the contract's one rule (:func:`distillery.answers.same_answer`),
    not SQL equality: a teacher's "Groceries" against the label "groceries" is right
    here as it is in the gate and the monitors.
    """
    seen: dict[str | None, list[int]] = {}
    for category, teacher_label, label in store.query("SELECT category, teacher_label, label FROM gold"):
        counts = seen.setdefault(category, [0, 0])
        counts[0] += 1
        counts[1] += same_answer(decode(teacher_label), decode(label))
    rows = [(c, n, right / n) for c, (n, right) in seen.items()]
    return sorted(rows, key=lambda r: (-r[1], str(r[0])))


def ingest_stamps(store: TaskStore) -> tuple[int, int, int, int]:
    """(events stored, first and last ``ingested_ms``, events stamped within 50 ms of the first): a
    benchmark's view of how fast a worker stored its input. The times are 0 in an empty store."""
    row = store.query(
        "SELECT count(*), min(ingested_ms), max(ingested_ms), count(*) FILTER "
        "(WHERE ingested_ms < (SELECT min(ingested_ms) + 50 FROM events)) FROM events")[0]
    return int(row[0]), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0)
