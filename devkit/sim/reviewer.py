"""A simulated person working through the review queue, for the demo.

It knows the transactions task the way a careful human does (the merchant
knowledge the simulated teacher also has, without the teacher's blind spot):
it accepts a right answer, corrects a wrong one, and skips what it cannot
place. Deterministic, so a demo run can be compared with another.

>>> r = SimReviewer()
>>> r.verdict({"input": "ASPEN DENTAL #12 AUSTIN TX", "category": "medical_services", "kind": "classification"})
('correct', 'dental_vision')
>>> r.verdict({"input": "STARBUCKS #1234 SEATTLE WA", "category": "coffee_shops", "kind": "classification"})
('accept', None)
>>> r.verdict({"input": "XQZZY 0001", "category": "fuel", "kind": "classification"})
('skip', None)
"""

from __future__ import annotations

from typing import Any, Literal

from devkit.sim.knowledge import MerchantIndex

Verdict = Literal["accept", "correct", "skip"]


class SimReviewer:
    """Decides review items of the transactions task from merchant knowledge."""

    def __init__(self, index: MerchantIndex | None = None) -> None:
        self.index = index or MerchantIndex.default()

    def verdict(self, item: dict[str, Any]) -> tuple[Verdict, str | None]:
        """``(decision, answer)`` for one item as the review API shows it."""
        if item.get("kind") != "classification":
            return "skip", None
        truth = self.index.lookup(str(item["input"]))
        if truth is None:
            return "skip", None
        if truth == item.get("category"):
            return "accept", None
        return "correct", truth
