"""Share of an input's tokens that the current training window never saw.

The student only knows the words it was trained on; a rising share of unseen
words (new merchants, a new language, a new product line) is the most direct
sign that traffic has left its training distribution, often before accuracy
visibly drops. Tokens are lower-cased runs of letters: digits are left to
``digit_share``, since store numbers and amounts are almost always new.
The per-input share in [0, 1] goes to ADWIN, whose window adapts to gradual
as well as sudden arrivals of new vocabulary.

The vocabulary is the serving adapter's training inputs
(:meth:`UnseenTokenShare.set_vocabulary`), so every live word is judged
against what the student learned from the first event after the adapter
serves. The window may also be primed with a held-out sample's shares, so
that a firing's "before" is the reference level; only with a sample drawn like
traffic: a snapshot's evaluation split has its duplicate inputs removed, which
raises its unseen share above traffic's (the monitors worker does not prime).
Before any adapter, the first ``warmup`` inputs with words build a provisional
vocabulary. A new vocabulary restarts the detector, since the old level meant
another reference.

A firing names the commonest new words since the detector's window last
restarted or last fired (``new_words``), redacted first by ``redact`` when one is set (the
task's PII rules), so the drift event shows what changed without showing a
customer's email address.

>>> import random
>>> rng = random.Random(5)
>>> known = [f"shop{c}" for c in "abcdefghij"]
>>> new = [f"brand{c}" for c in "abcdefghij"]
>>> def text(p_new):
...     return " ".join(rng.choice(new if rng.random() < p_new else known) for _ in range(3))
>>> texts = [text(0.05) for _ in range(3000)] + [text(0.25) for _ in range(2000)]
>>> signal = UnseenTokenShare()
>>> signal.set_vocabulary(vocabulary_of([" ".join(known)]), source="adapter a1")
>>> [i for i, t in enumerate(texts) if signal.observe(t)]
[3103]
>>> round(signal.last_change.before, 2), round(signal.last_change.after, 2)
(0.05, 0.22)
>>> [w["word"] for w in signal.detail()["new_words"][:3]]
['brandg', 'brandf', 'brandi']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from monitors.severity import SeverityScale
from monitors.signals.base import AdwinSignal

_TOKEN = re.compile(r"[^\W\d_]+")
_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
"""A redaction placeholder (``[EMAIL]``): not a word of the input."""

_WORDS_KEPT = 5000
"""Distinct new words counted at most; past it the rarest half is dropped."""


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
    """Share of tokens outside the training vocabulary; +5 points is a warning, +15 critical.

    Parameters
    ----------
    vocabulary
        A vocabulary to start from (source ``"given"``); empty: warm up on live inputs.
    warmup
        Live inputs (with words) whose tokens form the provisional vocabulary.
    """

    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.05, critical=0.15, worse="up")

    def __init__(self, vocabulary: Iterable[str] = (), *, delta: float = 1e-4, clock: int = 32,
                 warmup: int = 300) -> None:
        super().__init__("unseen_token_share", delta=delta, clock=clock)
        self.vocabulary: frozenset[str] = frozenset(vocabulary)
        self.reference_source = "given" if self.vocabulary else "none"
        self.warmup = warmup
        self.redact: Callable[[str], str] | None = None
        self.new_words: Counter[str] = Counter()
        self._warm: set[str] = set()
        self._warm_inputs = 0
        self._detail: dict[str, Any] = {}

    def set_vocabulary(self, vocabulary: Iterable[str], *, held_out: Sequence[str] = (),
                       source: str = "adapter") -> None:
        """Compare against a new vocabulary from now on, primed with held-out inputs' shares.

        Restarts the detector (keeps ``events_seen``).
        """
        self.vocabulary = frozenset(vocabulary)
        self.reference_source = source
        self._warm = set()
        shares = [s for s in (self.unseen_share(t) for t in held_out) if s is not None]
        self.prime(shares)
        self.new_words = Counter()

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
        if not self.vocabulary:
            self._warm_up(text)
            return False
        toks = tokens(text)
        if not toks:
            return False
        vocab = self.vocabulary
        unseen = sum(t not in vocab for t in toks)
        if unseen:
            self._count_new(text)
        if self.detector.drift_detected:
            self.new_words = Counter()
        fired = self.update(unseen / len(toks))
        if fired:
            self._detail = {
                "reference": self.reference_source,
                "new_words": [{"word": w, "count": c} for w, c in self.new_words.most_common(10)],
            }
        return fired

    def detail(self) -> dict[str, Any]:
        return dict(self._detail)

    def _warm_up(self, text: str) -> None:
        toks = tokens(text)
        if not toks:
            return
        self._warm.update(toks)
        self._warm_inputs += 1
        if self._warm_inputs >= self.warmup:
            self.set_vocabulary(self._warm, source="warm-up")

    def _count_new(self, text: str) -> None:
        if self.redact is not None:
            text = _PLACEHOLDER.sub(" ", self.redact(text))
        vocab, words = self.vocabulary, self.new_words
        for t in tokens(text):
            if t not in vocab:
                words[t] += 1
        if len(words) > _WORDS_KEPT:
            self.new_words = Counter(dict(words.most_common(_WORDS_KEPT // 2)))

    def __getstate__(self) -> dict[str, Any]:
        # the redactor is this process's (the task's current rules), not state
        return {**self.__dict__, "redact": None}
