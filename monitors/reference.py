"""What live traffic is compared with: the serving adapter's training data.

An adapter was trained on one snapshot (Parquet: ``input``, ``label``,
``category``, ``split``, ...). Its reference is the vocabulary of its
``train`` inputs and the mix of labels it learned (every split). The label
counts are a biased sample of the traffic (the streams worker skips duplicate
inputs and oversamples uncertain answers and the time after a drift), so the
monitor compares the answer mix with the traffic the adapter's training window
saw where it observed it, and falls back on these counts only where it did not
(:meth:`monitors.task_monitor.TaskMonitor.set_reference`). Pure: the monitors
worker reads the table (:func:`monitors.handlers.read_reference`) and hands the rows here.

>>> rows = [{"input": "SQ *BLUE BOTTLE", "category": "Coffee_Shops", "split": "train"},
...         {"input": "SHELL OIL 123", "category": "fuel", "split": "train"},
...         {"input": "BLUE BOTTLE SF", "category": "coffee_shops", "split": "eval"}]
>>> ref = reference_from_rows("adapter a1", rows)
>>> ref.labels, sorted(ref.vocabulary)
({'coffee_shops': 2, 'fuel': 1}, ['blue', 'bottle', 'oil', 'shell', 'sq'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from distillery.answers import category_of
from monitors.signals import vocabulary_of


@dataclass(frozen=True)
class Reference:
    """One adapter's training data as the signals use it."""

    source: str
    """Which reference this is, as the ops page shows it (``adapter <id>``)."""
    labels: dict[str, int]
    """Training examples per category (normalised as live answers are)."""
    vocabulary: frozenset[str]
    """Tokens of the training inputs."""


def reference_from_rows(source: str, snapshot: Iterable[Mapping[str, Any]]) -> Reference:
    """The reference of an adapter trained on ``snapshot`` (rows as dicts)."""
    labels: dict[str, int] = {}
    train: list[str] = []
    for row in snapshot:
        cat = category_of(row.get("category") or row.get("label"))
        if cat is not None:
            labels[cat] = labels.get(cat, 0) + 1
        text = row.get("input")
        if isinstance(text, str) and text and row.get("split") == "train":
            train.append(text)
    return Reference(source=source, labels=labels, vocabulary=vocabulary_of(train))
