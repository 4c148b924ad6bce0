"""A bounded set of recently seen ids, oldest forgotten first.

>>> r = RecentIds(2); r.add_all(["a", "b", "c"])
>>> "a" in r, "b" in r, "c" in r
(False, True, True)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


class RecentIds:
    """Remembers the last ``capacity`` ids added."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add_all(self, ids: Iterable[str]) -> None:
        for i in ids:
            self._ids[i] = None
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
