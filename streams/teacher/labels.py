"""A task's label set and the forgiving normalisation answers are matched in.

Answers come back as ``Coffee Shops``, ``"coffee_shops".`` or ``coffee-shops``:
casefolding, trimming quotes/backticks/trailing punctuation and turning runs of
spaces, hyphens and underscores into one ``_`` makes all of them ``coffee_shops``.
Anything that still is not in the set is not guessed at.

>>> labels = LabelSet(["coffee_shops", "fast_food"])
>>> labels.match(' "Coffee Shops". '), labels.match("coffee"), labels.match("tea")
('coffee_shops', None, None)
>>> labels.candidates("f")
['fast_food']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

_SEP = re.compile(r"[\s_\-]+")
_EDGE = "\"'`\u201c\u201d\u2018\u2019*.,;:!()[]{} \t\r\n"


def normalise_label(text: str) -> str:
    """The matching form of a label or answer.

    >>> normalise_label("  `Fast-Food`.\\n")
    'fast_food'
    """
    return _SEP.sub("_", text.strip(_EDGE).casefold()).strip("_")


class LabelSet:
    """The labels of a classification task, indexed by their normalised form."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        self._by_norm = {normalise_label(label): label for label in self.labels}
        self._norms = tuple(self._by_norm)

    def __len__(self) -> int:
        return len(self.labels)

    def match(self, answer: str) -> str | None:
        """The canonical label ``answer`` names, or ``None``."""
        return self._by_norm.get(normalise_label(answer))

    def candidates(self, prefix: str) -> list[str]:
        """Canonical labels whose normalised form starts with the normalised ``prefix``."""
        p = normalise_label(prefix)
        return [self._by_norm[n] for n in self._norms if n.startswith(p)]


@lru_cache(maxsize=64)
def label_set(labels: tuple[str, ...]) -> LabelSet:
    """A cached :class:`LabelSet` (one per distinct label tuple)."""
    return LabelSet(labels)
