"""The redactor's per-match checks for many matches at once: Luhn, SSN digits, IBAN and national phone spans.

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


_IBAN_VALUE = np.zeros(256, dtype=np.int32)  # an IBAN character's value in its mod-97 number (0 for a space)
_IBAN_VALUE[48:58] = np.arange(10)
_IBAN_VALUE[65:91] = _IBAN_VALUE[97:123] = np.arange(10, 36)
_IBAN_WIDTH = np.zeros(256, dtype=np.int32)  # how many decimal digits it takes there
_IBAN_WIDTH[48:58] = 1
_IBAN_WIDTH[65:91] = _IBAN_WIDTH[97:123] = 2
_POW10 = np.array([pow(10, k, 97) for k in range(96)], dtype=np.int64)  # 10 ** k mod 97 repeats every 96
_INV10 = np.array([pow(10, -k, 97) for k in range(96)], dtype=np.int32)


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


def iban_spans(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each IBAN match: how many of its characters are an IBAN (0: none), -1 where it cannot tell.

    As ``streams.redact_checks.iban_span`` decides: the whole match, or the longest prefix of it
    ending before one of its spaces (8 characters in or more), whose letters and digits (15
    to 34) pass mod 97 with the first four moved to the end. Every prefix's number is read
    from sums over all characters at once: with ``S(i)`` the decimal digits up to character
    ``i`` (a letter takes two), the body ending at ``j`` is ``10**S(j) * sum(v_i * 10**-S(i))``
    mod 97. A match with a character outside ASCII (its check digits) it cannot tell.
    """
    chars, first, lens = _chars(codes, starts, ends)
    value = _IBAN_VALUE[chars]
    width = np.cumsum(_IBAN_WIDTH[chars], dtype=np.int32)
    sums = np.cumsum(value * _INV10[width % 96] % 97, dtype=np.int32)  # at most 97 a character: no overflow
    v = value[first[:, None] + np.arange(4)].astype(np.int64)  # two letters and two digits: six decimal digits
    head = (v[:, 0] * 10_000 + v[:, 1] * 100 + v[:, 2] * 10 + v[:, 3]) % 97
    body_before = sums[first + 3]
    space = chars == 32
    spaces = np.concatenate(([0], np.cumsum(space, dtype=np.int32)))
    # the prefixes tried: each one ending before a space 8 characters in or more, and the whole match
    at_space = np.flatnonzero(space)
    at_space = at_space[at_space - first[np.searchsorted(first, at_space, side="right") - 1] >= 8]
    cut_end = np.concatenate((at_space, first + lens))  # one past each prefix's last character
    last = cut_end - 1
    who = np.searchsorted(first, last, side="right") - 1
    cut = cut_end - first[who]
    letters_digits = cut - (spaces[cut_end] - spaces[first[who]])
    body = _POW10[width[last] % 96] * (sums[last] - body_before[who]) % 97
    ok = (15 <= letters_digits) & (letters_digits <= 34) & ((body * pow(10, 6, 97) + head[who]) % 97 == 1)
    spans = np.zeros(lens.size, dtype=np.int64)
    np.maximum.at(spans, who[ok], cut[ok])
    return np.where(_any_unknown(chars, first), -1, spans)


def leftmost(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which of the matches (sorted by start) ``sub`` replaces: the first, then the first starting at or
    after its end, and so on (a match starting inside a chosen one is never tried).

    >>> leftmost(np.array([0, 5, 10, 19, 20]), np.array([19, 24, 29, 25, 39])).tolist()
    [0, 3]
    """
    if (starts[1:] >= ends[:-1]).all():  # none starts inside another: all of them
        return np.arange(starts.size, dtype=np.int64)
    after = np.searchsorted(starts, ends).tolist()  # the first match starting at or after each one's end
    chosen, i, n = [], 0, len(after)
    while i < n:
        chosen.append(i)
        i = after[i]
    return np.array(chosen, dtype=np.int64)
