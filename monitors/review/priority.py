"""Which confident answers are audited, and in which order items are reviewed (pure).

Tiers, lowest first:

0. the teacher's answer falls in a category the last gate called worst;
1. a low-confidence answer that arrived after the task's last drift alarm;
2. an audit of a confident answer (a teacher that is confidently wrong never looks unsure;
   a category where people caught it is audited more, :func:`audit_rate`);
3. the rest (off the label set, malformed, unsure before any drift).

Within a tier rarer categories come first (audits of a category where people
caught a confident mistake before them all), then the oldest item.

>>> tier(origin="review", reason="low_confidence: 0.41 < 0.70", category="fuel", ts_ms=5, worst={"fuel"}, drift_ms=0)
0
>>> tier(origin="review", reason="low_confidence: 0.41 < 0.70", category="bars", ts_ms=5, worst=set(), drift_ms=3)
1
>>> tier(origin="audit", reason="audit", category="bars", ts_ms=5, worst=set(), drift_ms=None)
2
>>> spec = ReviewSpec(audit_rate=0.02, rare_share=0.05, rare_boost=5.0)
>>> audit_rate(spec, "fuel", {"fuel": 900, "gaming": 10}), audit_rate(spec, "gaming", {"fuel": 900, "gaming": 10})
(0.02, 0.1)
>>> audit_rate(spec, "medical", {"medical": 500, "fuel": 500}, found_errors=1)
0.25
>>> [audited("transactions", f"ev-{i}", 0.25) for i in range(8)]
[False, False, True, False, False, False, True, False]
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Set

from distillery.events import ModelScores
from distillery.taskspec import ReviewSpec

WORST = 0
AFTER_DRIFT = 1
AUDIT = 2
REST = 3

WORST_CATEGORIES = 3
"""How many of the gate's lowest categories (below the overall accuracy) count as worst."""

MIN_COUNT_FOR_RARITY = 50
"""Labeled answers seen before a category's share is trusted to call it rare."""


def tier(*, origin: str, reason: str, category: str | None, ts_ms: int, worst: Set[str],
         drift_ms: int | None) -> int:
    """The item's tier (see the module doc)."""
    if category is not None and category in worst:
        return WORST
    if origin == "review" and reason.startswith("low_confidence") and drift_ms is not None and ts_ms >= drift_ms:
        return AFTER_DRIFT
    if origin != "review":
        return AUDIT
    return REST


def audit_rate(spec: ReviewSpec, category: str | None, counts: Mapping[str, int], *, found_errors: int = 0) -> float:
    """The share of a category's confident answers drawn for audit.

    Rare categories get ``rare_boost``. A category in which people recently
    corrected a confident teacher answer (``found_errors`` corrections among its
    last ``found_error_window`` reviewed ones) is audited at least at
    ``found_error_audit_rate``: the teacher's confident mistakes carry the label
    it gives them, so they are found by auditing that label more, not the true one.
    """
    rate = spec.audit_rates.get(category or "", spec.audit_rate)
    total = sum(counts.values())
    if total >= MIN_COUNT_FOR_RARITY and counts.get(category or "", 0) / total < spec.rare_share:
        rate *= spec.rare_boost
    if found_errors > 0:
        rate = max(rate, spec.found_error_audit_rate)
    return min(1.0, round(rate, 12))


def audited(task: str, event_id: str, rate: float) -> bool:
    """A seeded draw from the event id: every replica, and every replay, audits the same answers."""
    h = int.from_bytes(hashlib.blake2b(f"{task}\0{event_id}".encode(), digest_size=8).digest(), "big")
    return h / 2**64 < rate


def worst_categories(scores: ModelScores, n: int = WORST_CATEGORIES) -> list[str]:
    """The gate's worst categories: the ``n`` lowest below the overall accuracy, and ``worst_category``.

    >>> worst_categories(ModelScores(n=9, accuracy=0.8, per_category={"a": 0.5, "b": 0.9, "c": 0.7}))
    ['a', 'c']
    """
    below = sorted((acc, cat) for cat, acc in scores.per_category.items() if acc < scores.accuracy)
    out = [cat for _, cat in below[:n]]
    if scores.worst_category and scores.worst_category not in out:
        out.append(scores.worst_category)
    return out
