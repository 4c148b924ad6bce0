"""A bounded set of recently seen ids, oldest forgotten first.

Ids are remembered by a 128-bit digest, not as given: an id may hold up to 512
characters, and 500,000 of them per task would otherwise take a third of a
gigabyte. A digest costs the same whatever the id (about 140 bytes an entry with
the ordering: 70 MB at the pipeline's 500,000, measured with tracemalloc), and two different ids share one
with a probability below 10^-27 at that size.

>>> r = RecentIds(2); r.add_all(["a", "b", "c"])
>>> "a" in r, "b" in r, "c" in r
(False, True, True)
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable


def _digest(item: str) -> bytes:
    return hashlib.blake2b(item.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class RecentIds:
    """Remembers the last ``capacity`` ids added."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and _digest(item) in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add_all(self, ids: Iterable[str]) -> None:
        for i in ids:
            self._ids[_digest(i)] = None
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
