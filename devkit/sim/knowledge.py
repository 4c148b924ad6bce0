"""The simulated teacher's world knowledge: which merchant name means which category.

Built from :mod:`devkit.sim.merchants`: every chain, every online descriptor
(its longest literal fragment, ``DOORDASH*{name}`` -> ``DOORDASH``) and every word
independents use (``ROASTERS``, ``TAVERN``). A line is matched on whole tokens,
longest pattern first, so ``BP`` never fires inside another word; a line cut by
the card network's truncation still matches when its last tokens begin a pattern
(``ELECTRIFY AMER`` -> ``ELECTRIFY AMERICA``).

>>> idx = MerchantIndex.default()
>>> idx.lookup("SQ *BLUE DOOR ROASTERS SEATTLE WA"), idx.lookup("SHELL OIL 57444 PORTLAND OR")
('coffee_shops', 'fuel')
>>> idx.lookup("CHECKCARD 0310 ELECTRIFY AMER"), idx.lookup("XYZZY 123")
('ev_charging', None)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from devkit.sim.merchants import CATEGORIES

_TOKEN = re.compile(r"[A-Z0-9]+")
_PLACEHOLDER = re.compile(r"\{[a-z]+\}")
MIN_TRUNCATED_CHARS = 6


def tokens(text: str) -> tuple[str, ...]:
    """Upper-case alphanumeric tokens of ``text``.

    >>> tokens("Sq *Blue-Door  #12")
    ('SQ', 'BLUE', 'DOOR', '12')
    """
    return tuple(_TOKEN.findall(text.upper()))


def _longest_fragment(template: str) -> str:
    return max(_PLACEHOLDER.split(template), key=lambda f: len(" ".join(tokens(f))))


class MerchantIndex:
    """Token patterns -> category, the longest match wins."""

    def __init__(self, patterns: Iterable[tuple[str, str]]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for text, category in patterns:
            toks = tokens(text)
            if toks:
                self._by_first.setdefault(toks[0], []).append((toks, category))
        # First tokens by their prefixes, for a line cut inside its first merchant word.
        self._by_prefix: dict[str, set[str]] = {}
        for first in self._by_first:
            for k in range(MIN_TRUNCATED_CHARS, len(first)):
                self._by_prefix.setdefault(first[:k], set()).add(first)

    @classmethod
    def default(cls) -> MerchantIndex:
        """Everything the merchant catalogue knows, drift merchants included."""
        pairs: list[tuple[str, str]] = []
        for c in CATEGORIES:
            pairs += [(b, c.name) for b in c.brands + c.drift_brands + c.local]
            pairs += [(_longest_fragment(t), c.name) for t in c.online + c.drift_online]
        return cls(pairs)

    def lookup(self, text: str) -> str | None:
        """The category of the best-matching known pattern in ``text``, or ``None``."""
        toks = tokens(text)
        best: tuple[int, str] | None = None
        for i, tok in enumerate(toks):
            firsts = [tok] if tok in self._by_first else []
            firsts += sorted(self._by_prefix.get(tok, ()))
            for first in firsts:
                for pattern, category in self._by_first[first]:
                    score = _match(toks, i, pattern)
                    if score and (best is None or score > best[0]):
                        best = (score, category)
        return best[1] if best else None


def _match(toks: tuple[str, ...], i: int, pattern: tuple[str, ...]) -> int:
    """Characters of ``pattern`` matched at ``toks[i:]`` (0 for no match).

    A full match scores its length. A pattern cut short by truncation (its
    matched part ends with a token that is a prefix of the pattern's) counts if at
    least 6 characters and half the pattern matched. A reference number glued to
    the last pattern token (``NINTENDO CANMQIN61J``) still matches it.
    """
    matched = 0
    for j, p in enumerate(pattern):
        if i + j >= len(toks):
            break
        t = toks[i + j]
        last = j == len(pattern) - 1
        if t == p or (last and len(p) >= 2 and t.startswith(p)):
            matched += len(p) + (1 if j else 0)
            if last:
                return matched
            continue
        if p.startswith(t):
            matched += len(t) + (1 if j else 0)
        break
    full = len(" ".join(pattern))
    return matched if matched >= MIN_TRUNCATED_CHARS and matched * 2 >= full else 0
