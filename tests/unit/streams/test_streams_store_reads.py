"""The reads other processes make of a task's store (:mod:`streams.store.reads`): ``gold show``'s table."""

from __future__ import annotations

from pathlib import Path

from streams.store.db import StoreBatch, TaskStore
from streams.store.reads import gold_by_category


def test_gold_by_category_counts_and_scores_the_pinned_teacher_answer(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "t.duckdb")
    store.write(StoreBatch(gold=[
        ("g1", "SHELL 1", "fuel", "fuel", "seed", "fuel", 0.9, 1),
        ("g2", "SHELL 2", "fuel", "fuel", "seed", "groceries", 0.4, 2),
        ("g3", "CHEVRON 3", "fuel", "fuel", "seed", "fuel", 0.8, 3),
        ("g4", "STARBUCKS 4", "coffee_shops", "coffee_shops", "human", None, None, 4),
    ]))
    store.close()
    rows = gold_by_category(TaskStore(tmp_path / "t.duckdb", read_only=True))
    assert [(c, n, round(r, 4)) for c, n, r in rows] == [("fuel", 3, 0.6667), ("coffee_shops", 1, 0.0)]


def test_gold_by_category_judges_the_teacher_by_the_contracts_answer_rule(tmp_path: Path) -> None:
    # SQL equality called the teacher's "Fuel " wrong; the gate and the monitors call it right
    store = TaskStore(tmp_path / "t.duckdb")
    store.write(StoreBatch(gold=[
        ("g1", "SHELL 1", "fuel", "fuel", "seed", "Fuel ", 0.9, 1),
        ("g2", "SHELL 2", "fuel", "fuel", "seed", "groceries", 0.4, 2),
    ]))
    store.close()
    rows = gold_by_category(TaskStore(tmp_path / "t.duckdb", read_only=True))
    assert rows == [("fuel", 2, 0.5)]
