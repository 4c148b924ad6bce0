"""What live traffic is compared with: the serving adapter's training data.

An adapter was trained on one snapshot (Parquet: ``input``, ``label``,
``category``, ``split``, ...) and judged on a gold set. Its reference is the
mix of labels it learned (every split: the evaluation split is the same
traffic), the vocabulary of its ``train`` inputs, and the inputs it never
trained on (the evaluation split, then the gold set) to measure how many
unseen words in-distribution traffic has. Pure: the monitors worker reads the
tables (:func:`monitors.app.read_reference`) and hands the rows here.

>>> rows = [{"input": "SQ *BLUE BOTTLE", "category": "Coffee_Shops", "split": "train"},
...         {"input": "SHELL OIL 123", "category": "fuel", "split": "train"},
...         {"input": "BLUE BOTTLE SF", "category": "coffee_shops", "split": "eval"}]
>>> ref = reference_from_rows("adapter a1", rows, [{"input": "CHEVRON 9", "category": "fuel"}])
>>> ref.labels, sorted(ref.vocabulary), ref.held_out
({'coffee_shops': 2, 'fuel': 1}, ['blue', 'bottle', 'oil', 'shell', 'sq'], ['BLUE BOTTLE SF', 'CHEVRON 9'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from monitors.answers import category_of
from monitors.signals import vocabulary_of

HELD_OUT_KEPT = 2000
"""Held-out inputs kept to prime the unseen-token detector (its window holds fewer)."""


@dataclass(frozen=True)
class Reference:
    """One adapter's training data as the signals use it."""

    source: str
    """Which reference this is, as the ops page shows it (``adapter <id>``)."""
    labels: dict[str, int]
    """Training examples per category (normalised as live answers are)."""
    vocabulary: frozenset[str]
    """Tokens of the training inputs."""
    held_out: list[str]
    """Inputs the adapter did not train on (evaluation split, gold set)."""


def reference_from_rows(source: str, snapshot: Iterable[Mapping[str, Any]],
                        gold: Iterable[Mapping[str, Any]] = ()) -> Reference:
    """The reference of an adapter trained on ``snapshot`` and judged on ``gold`` (rows as dicts)."""
    labels: dict[str, int] = {}
    train: list[str] = []
    held_out: list[str] = []
    for row in snapshot:
        text = row.get("input")
        cat = category_of(row.get("category") or row.get("label"))
        if cat is not None:
            labels[cat] = labels.get(cat, 0) + 1
        if isinstance(text, str) and text:
            (train if row.get("split") == "train" else held_out).append(text)
    held_out += [r["input"] for r in gold if isinstance(r.get("input"), str) and r["input"]]
    return Reference(source=source, labels=labels, vocabulary=vocabulary_of(train),
                     held_out=held_out[:HELD_OUT_KEPT])
