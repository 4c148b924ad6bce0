"""The redactor's per-match checks for many matches at once: Luhn, SSN digits, national phone spans.

Where a rule matches tens of thousands of times in one input (a mebibyte of card-shaped
groups, of nine-digit runs, of national numbers), a Python call per match costs more than
the scan (2-4 us each, 100-250 ms per MiB; issue #13). Here the matches' characters are
read once as bytes (``?`` for every character outside ASCII) and each check runs over all
of them in a few numpy passes. Each function answers for every match or says it cannot
(a digit outside ASCII, a shape it does not judge): those few go to the check as written.

>>> codes = as_codes("4111 1111 1111 1111 4111 1111 1111 1112")
>>> ok, unsure = luhn(codes, np.array([0, 20]), np.array([19, 39]))
>>> ok.tolist(), unsure.tolist()
([True, False], [False, False])
"""

from __future__ import annotations

import numpy as np

_UNKNOWN = ord("?")

_VALUE = np.zeros(256, dtype=np.int64)
_VALUE[48:58] = np.arange(10)
_DOUBLED = np.zeros(256, dtype=np.int64)
_DOUBLED[48:58] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]  # a digit doubled, less 9 past 9

_KIND = np.zeros(256, dtype=np.int64)  # national phone characters: 0 digit, 1-4 a separator, 5 a parenthesis
for _i, _ch in enumerate(" ./-", 1):
    _KIND[ord(_ch)] = _i
_KIND[ord("(")] = _KIND[ord(")")] = 5


def as_codes(text: str) -> np.ndarray:
    """``text`` as one byte a character (``?`` for each outside ASCII), read-only."""
    return np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)


def _chars(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The matches' characters end to end, where each match begins in them, and each one's length."""
    lens = ends - starts
    first = np.zeros(lens.size, dtype=np.int64)
    np.cumsum(lens[:-1], out=first[1:])
    chars = codes[np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(starts - first, lens)]
    return chars, first, lens


def _any_unknown(chars: np.ndarray, first: np.ndarray) -> np.ndarray:
    return np.add.reduceat((chars == _UNKNOWN).astype(np.int64), first) > 0


def luhn(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each match's digits (its separators aside) pass Luhn, and which ones it could not tell.

    The rightmost digit and every second one left of it count as they are, the others doubled.
    """
    chars, first, lens = _chars(codes, starts, ends)
    digit = (chars >= 48) & (chars <= 57)
    seen = np.cumsum(digit)
    from_right = np.repeat(seen[first + lens - 1], lens) - seen  # 0 at each match's last digit
    total = np.add.reduceat(np.where(from_right & 1, _DOUBLED[chars], _VALUE[chars]), first)
    return total % 10 == 0, _any_unknown(chars, first)


def ssn(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each match's nine digits are a valid SSN (area not 000, 666 or 9xx, group not 00,
    serial not 0000), and which ones it could not tell."""
    chars, first, _ = _chars(codes, starts, ends)
    d = _VALUE[chars[(chars >= 48) & (chars <= 57) | (chars == _UNKNOWN)]].reshape(-1, 9)
    area = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
    ok = (area != 0) & (area != 666) & (d[:, 0] != 9) & (d[:, 3:5].sum(axis=1) != 0) & (d[:, 5:].sum(axis=1) != 0)
    return ok, _any_unknown(chars, first)


def national_spans(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each national phone match: how many of its characters are the number (0: none), -1 where it cannot tell.

    It tells matches without parentheses whose groups are joined by one kind of separator
    and hold at most 12 digits: the whole match when it has two groups or more and 10 digits
    or more, else none. A character outside ASCII in a match is one of its digits.
    """
    chars, first, lens = _chars(codes, starts, ends)
    owner = np.repeat(np.arange(lens.size, dtype=np.int64), lens)
    kinds = np.bincount(owner * 6 + _KIND[chars], minlength=lens.size * 6).reshape(-1, 6)
    separators = kinds[:, 1:5].sum(axis=1)
    one_kind = (kinds[:, 1:5] > 0).sum(axis=1)
    digits = lens - separators
    told = (kinds[:, 5] == 0) & (one_kind <= 1) & (digits <= 12)
    spans = np.where(told, np.where((one_kind == 1) & (digits >= 10), lens, 0), -1)
    return np.where(lens < 11, 0, spans)
