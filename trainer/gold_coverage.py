"""Does the gold set still look like the traffic? (pure)

A gate that judges on a gold set without a single row of a category the
training snapshot says is now common judges yesterday's traffic: after a drift
(a new merchant type, a category that barely existed) the adapter could fail
that category and still pass. The trainer refuses to judge then, naming the
categories and the fix (review the gold candidates the queue drew after the
drift, or import gold rows).

>>> from trainer.data import Example
>>> train = [Example(str(i), "x", c, c) for i, c in enumerate(["fuel"] * 8 + ["ev_charging"] * 2)]
>>> uncovered(train, {"fuel": 30}, min_share=0.1, min_rows=2)
[('ev_charging', 0.2)]
>>> uncovered(train, {"fuel": 30, "ev_charging": 1}, min_share=0.1, min_rows=2)
[]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from trainer.data import Example


def uncovered(train: Sequence[Example], gold_by_category: Mapping[str, int], *, min_share: float,
              min_rows: int) -> list[tuple[str, float]]:
    """Categories with at least ``min_share`` (and ``min_rows``) of the training rows and no gold row."""
    if min_share <= 0 or not train:
        return []
    counts = Counter(ex.category for ex in train if ex.category)
    total = len(train)
    return [(cat, round(n / total, 4)) for cat, n in counts.most_common()
            if n >= min_rows and n / total >= min_share and gold_by_category.get(cat, 0) == 0]


def refusal(missing: list[tuple[str, float]], gold_size: int) -> str:
    """Why the gate will not judge, and what to do."""
    shown = ", ".join(f"{cat} ({share:.0%} of the training snapshot)" for cat, share in missing[:10])
    return (f"the gold set ({gold_size} rows) has no row of {shown}: judging on it would ignore what traffic "
            "looks like now; review the gold candidates (`distillery review next`) or import gold rows for "
            "these categories (`distillery gold import`), or lower review.gold_common_share")
