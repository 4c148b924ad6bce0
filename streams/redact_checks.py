"""The redactor's checks on each match of a number rule: Luhn, SSN digits, IBAN mod 97, national groups.

A pattern only finds what is shaped like a card, an SSN, an IBAN or a national phone
number; the check here decides whether it is one (and, for an IBAN or a national
number, how many of its leading characters are: trailing groups may be cut off). Each
check reads one match (``card_ok``, ``ssn_ok``, ``iban_chars``, ``national_phone_chars``);
each *judge* answers for all matches of a rule in a long text at once, through the numpy
passes of :mod:`streams.redact_batch`, and falls back to the check as written for the
matches those cannot tell (a digit outside ASCII, a shape they do not judge). Both
answer the same for every match (``tests/unit/streams/test_streams_redact_batch.py``).

>>> text = "4111 1111 1111 1111 4111 1111 1111 1112 GB82 WEST 1234 5698 7654 32 1234"
>>> card_judge = checked_all_at_once(redact_batch.luhn, card_ok)
>>> card_judge(text, np.array([0, 20]), np.array([19, 39])).tolist(), iban_judge(text, np.array([40]), np.array([72])).tolist()
([19, 0], [27])
"""

from __future__ import annotations

import codecs
import re
import string
from collections.abc import Callable

import numpy as np

from streams import redact_batch


def _strip(match: str, separators: str) -> str:
    """``match`` without its ``separators`` (the only non-digits its rule lets in): its digits."""
    for ch in separators:
        match = match.replace(ch, "")
    return match


_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (digits only) passes the Luhn checksum of card numbers.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    if digits.isascii():  # sums of code points in C: the rightmost digit and every second one left of it as is,
        # the others doubled (less 9 past 9); each ASCII digit's code point is 48 more than its value
        kept, doubled = digits[::-2], digits[-2::-2].translate(_LUHN_DOUBLE)
        return (sum(kept.encode()) + sum(doubled.encode()) - 48 * len(digits)) % 10 == 0
    total = 0  # other Unicode digits (``\d`` matches them): by code point, as the ASCII ones
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(match: str) -> bool:
    """A 4-4-4-x, 4-6-5 or plain run (one separator kind, space or dash) whose digits pass Luhn."""
    return luhn_ok(match.replace(" ", "").replace("-", ""))


def card_more_ok(match: str) -> bool:
    """A dotted, ``#``-separated or 4-8-4 number whose digits pass Luhn."""
    return luhn_ok(_strip(match, " .#-"))


def ssn_ok(candidate: str) -> bool:
    """A valid SSN's digits: area not 000, 666 or 9xx, group not 00, serial not 0000.

    >>> ssn_ok("123 45 6789"), ssn_ok("666456789"), ssn_ok("123450000")
    (True, False, False)
    """
    d = _strip(candidate, " .")
    return d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


_IBAN_CODES = {ord(c): str(10 + i).encode() for i, c in enumerate(string.ascii_uppercase)} | {
    ord(c): str(10 + i).encode() for i, c in enumerate(string.ascii_lowercase)} | {
    ord(c): c.encode() for c in string.digits + " "}
"""An IBAN's characters as the digits of its mod-97 number (A or a is 10 ... Z 35), spaces kept, for
``codecs.charmap_encode``: one C call where ``str.translate`` would take a Python step per character."""


def iban_ok(candidate: str) -> bool:
    """True when ``candidate`` (spaces allowed) passes the IBAN mod-97 check.

    >>> iban_ok("GB82 WEST 1234 5698 7654 32"), iban_ok("GB82 WEST 1234 5698 7654 33")
    (True, False)
    """
    s = candidate.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    try:
        coded = codecs.charmap_encode(s[4:] + s[:4], "strict", _IBAN_CODES)[0]
    except UnicodeError:  # a character outside ASCII letters and digits: weighed as the check always did
        total = 0
        for ch in s[4:] + s[:4]:
            total = (total * (100 if ch.isalpha() else 10) + (ord(ch) - 55 if ch.isalpha() else ord(ch) - 48)) % 97
        return total == 1
    return int(coded) % 97 == 1


def iban_span(m: re.Match[str]) -> int:
    """Characters of the match that are an IBAN (0: none): :func:`iban_chars` of it."""
    return iban_chars(m.group(0))


def iban_chars(text: str) -> int:
    """Characters of an IBAN match that are an IBAN (0: none): whole, or with trailing groups cut off.

    Each candidate (the match, then without its last group, and so on) is a prefix of the
    match, so its mod-97 number is a prefix of one number: one conversion, then a division each.

    >>> [iban_chars(t) for t in ("GB82 WEST 1234 5698 7654 32 1234", "GB82 WEST 1234 5698 7654 33")]
    [27, 0]
    """
    try:
        coded = codecs.charmap_encode(text, "strict", _IBAN_CODES)[0]
    except UnicodeError:  # check digits outside ASCII (the pattern's \d): one candidate at a time
        while True:
            if iban_ok(text):
                return len(text)
            cut = text.rfind(" ")
            if cut < 8:
                return 0
            text = text[:cut]
    groups, coded_groups = text.split(" "), coded.split(b" ")
    digits = b"".join(coded_groups)
    head, body = int(digits[:6]), int(digits[6:])  # two letters and two digits: six digits, moved to the end
    body_len = len(digits) - 6
    cut, chars, kept = len(text), len(text) - len(groups) + 1, body_len
    for group, coded_group in zip(reversed(groups), reversed(coded_groups), strict=True):
        if 15 <= chars <= 34 and ((body // 10 ** (body_len - kept)) * 1_000_000 + head) % 97 == 1:
            return cut
        cut -= len(group) + 1
        if cut < 8:
            return 0
        chars -= len(group)
        kept -= len(coded_group)
    return 0


_ONE_SEPARATOR = re.compile(r"\d+(?:([ ./-])\d+(?:\1\d+)*)?")
"""Groups of digits joined by one kind of separator."""


def national_phone_span(m: re.Match[str]) -> int:
    """Characters of the match that are a phone number (0: none): :func:`national_phone_chars` of it."""
    return national_phone_chars(m.group(0))


def national_phone_chars(text: str) -> int:
    """Characters of a national phone match that are a phone number (0: none).

    The longest run of leading groups, joined by one kind of separator, that holds
    10 to 12 digits (a date and a time, ``01.02.2024 12``, change separator).

    >>> [national_phone_chars(t) for t in ("020 7946 0958 12", "01.02.2024 12", "00 00 00 00 00 00")]
    [13, 0, 17]
    """
    if len(text) < 11:  # ten digits and a separator (or two parentheses) at least
        return 0
    paren = text.startswith("(")
    if not paren and (one := _ONE_SEPARATOR.fullmatch(text)) is not None and one.group(1) is not None:
        digits = len(text) - text.count(one.group(1))  # groups joined by one separator kind: all or nothing
        if digits <= 12:
            return len(text) if digits >= 10 else 0
    digits = groups = best = 0
    sep: str | None = None
    for i, ch in enumerate(text + " "):  # the sentinel closes the last group
        if ch.isdigit() or ch in "()":
            digits += ch.isdigit()
            continue
        groups += 1
        if digits > 12:
            break
        if digits >= 10 and (groups >= 2 or paren):  # one bare run of digits is the NANP rule's to judge
            best = i
        if i == len(text):
            break
        if text[i - 1] == ")":  # "(030) 1234567": the space after the area code sets no rule
            continue
        if sep is None:
            sep = ch
        elif ch != sep:
            break
    return best


Judge = Callable[[str, np.ndarray, np.ndarray], np.ndarray]
"""For a text and its matches' starts and ends: how many leading characters of each to replace."""


def checked_all_at_once(batch: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                         check: Callable[[str], bool]) -> Judge:
    """A judge from a check of many matches at once, with ``check`` for those it cannot tell: whole or nothing."""

    def judge(text: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        ok, unsure = batch(redact_batch.as_codes(text), starts, ends)
        for i in np.flatnonzero(unsure).tolist():
            ok[i] = check(text[starts[i]:ends[i]])
        return np.where(ok, ends - starts, 0)

    return judge


def iban_judge(text: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many leading characters of each IBAN match are an IBAN (0: none), all at once."""
    spans = redact_batch.iban_spans(redact_batch.as_codes(text), starts, ends)
    for i in np.flatnonzero(spans < 0).tolist():
        spans[i] = iban_chars(text[starts[i]:ends[i]])
    return spans


def national_judge(text: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many leading characters of each national phone match are a phone number (0: none), all at once."""
    spans = redact_batch.national_spans(redact_batch.as_codes(text), starts, ends)
    for i in np.flatnonzero(spans < 0).tolist():
        spans[i] = national_phone_chars(text[starts[i]:ends[i]])
    return spans


def whole(text: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Every match whole: the judge of a rule with no check."""
    return ends - starts
