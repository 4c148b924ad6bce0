"""Share of an input's tokens that the current training window never saw.

The student only knows the words it was trained on; a rising share of unseen
words (new merchants, a new language, a new product line) is the most direct
sign that traffic has left its training distribution, often before accuracy
visibly drops. Tokens are lower-cased runs of letters: digits are left to
``digit_share``, since store numbers and amounts are almost always new.
The per-input share in [0, 1] goes to ADWIN, whose window adapts to gradual
as well as sudden arrivals of new vocabulary. Until a vocabulary is set there
is nothing to compare against, so :meth:`UnseenTokenShare.observe` ignores
inputs; setting a new vocabulary (a new adapter trained on a new window)
restarts the detector, since the old level meant another reference.

>>> import random
>>> rng = random.Random(5)
>>> known = [f"shop{c}" for c in "abcdefghij"]
>>> new = [f"brand{c}" for c in "abcdefghij"]
>>> def text(p_new):
...     return " ".join(rng.choice(new if rng.random() < p_new else known) for _ in range(3))
>>> texts = [text(0.05) for _ in range(3000)] + [text(0.25) for _ in range(2000)]
>>> signal = UnseenTokenShare()
>>> signal.set_vocabulary(vocabulary_of([" ".join(known)]))
>>> [i for i, t in enumerate(texts) if signal.observe(t)]
[3103]
>>> round(signal.last_change.before, 2), round(signal.last_change.after, 2)
(0.05, 0.22)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from monitors.severity import SeverityScale
from monitors.signals.base import AdwinSignal

_TOKEN = re.compile(r"[^\W\d_]+")


def tokens(text: str) -> list[str]:
    """Lower-cased runs of letters (any script): ``"SQ *Café 12"`` gives ``['sq', 'café']``."""
    return _TOKEN.findall(text.lower())


def vocabulary_of(texts: Iterable[str]) -> frozenset[str]:
    """The vocabulary of a set of inputs (e.g. the current training window)."""
    vocab: set[str] = set()
    for text in texts:
        vocab.update(tokens(text))
    return frozenset(vocab)


class UnseenTokenShare(AdwinSignal):
    """Share of tokens outside the training vocabulary; +5 points is a warning, +15 critical."""

    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.05, critical=0.15, worse="up")

    def __init__(self, vocabulary: Iterable[str] = (), *, delta: float = 1e-4, clock: int = 32) -> None:
        super().__init__("unseen_token_share", delta=delta, clock=clock)
        self.vocabulary: frozenset[str] = frozenset(vocabulary)

    def set_vocabulary(self, vocabulary: Iterable[str]) -> None:
        """Compare against a new vocabulary from now on; restarts the detector, keeps ``events_seen``."""
        self.vocabulary = frozenset(vocabulary)
        self.restart()

    def unseen_share(self, text: str) -> float | None:
        """Share of ``text``'s tokens not in the vocabulary; None without tokens or vocabulary."""
        if not self.vocabulary:
            return None
        toks = tokens(text)
        if not toks:
            return None
        vocab = self.vocabulary
        return sum(t not in vocab for t in toks) / len(toks)

    def observe(self, text: str) -> bool:
        """Compute the share for one input and feed it; False when there is nothing to compare."""
        share = self.unseen_share(text)
        return False if share is None else self.update(share)
