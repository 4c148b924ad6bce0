"""The redactor finds exactly what it found before its digit rules were gated.

``streams.redact`` tries each card, SSN and phone rule only at the places it may match
(``streams.redact_candidates``: candidate starts for every position at once; issue #13:
digit-dense text cost 300 ms per MiB), and checks Luhn, SSN, IBAN and national
phone digits with fewer Python steps per match. The oracle below is the redactor as it
was before (its patterns and its IBAN and national-phone checks copied verbatim, every
rule over the whole text); random text dense in digits, separators and near-miss shapes
must come out the same, text and counts: over the whole text (short inputs), at the
candidates only, and over the whole text wherever a rule has a candidate (both forced at
every length), with candidates overlapping, close together and apart by long runs of
separators, word characters and characters outside ASCII.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams import redact, redact_checks

# ------------------------------------------------------------------ the oracle: the redactor before the gate
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(
    r"\d(?<![\d#]\d)(?:\d{12,18}"
    r"|\d{3}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,7}"
    r"|\d{3}(?P<s2>[ -])\d{6}(?P=s2)\d{5})(?!\d)"
)
_SSN = re.compile(r"\d(?<![\d#]\d)\d{2}-\d{2}-\d{4}(?![\d-])")
_PHONE = re.compile(
    r"[+(\d](?<![\w#][+(\d])(?:"
    r"(?<=\+)(?=\d{1,23}(?!\d))\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"
    r"|(?<=\()\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|(?<=1)[ .-](?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    r"|(?<=\d)\d{2}[ .-]\d{3}[ .-]\d{4}"
    r"|(?<=1)\d{10}"
    r"|(?<=\d)\d{9}"
    r")(?![\w-])"
)
_DIGIT_PII = re.compile(r"[+(\d](?:[ .()+#/-]*+\d){5}")
_CARD_MORE = re.compile(
    r"\d(?<![\d#]\d)(?:\d{3}(?P<s1>[.#])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,7}"
    r"|\d{3}(?P<s2>[ .#-])\d{8}(?P=s2)\d{4})(?!\d)"
)
_SSN_MORE = re.compile(r"\d(?<![\w#]\d)\d{2}(?P<s>[ .]?)\d{2}(?P=s)\d{4}(?![\w-])")
_IBAN = re.compile(
    r"[A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z]\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?(?![A-Za-z0-9])"
)
_NATIONAL_PHONE = re.compile(
    r"(?:0(?<![\w#+.,/]0)\d{1,4}+|\(0\d{1,4}+\) ?\d{2,8}+)(?:[ ./-]\d{2,8}+){0,5}+")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    total = 0
    for ch in s[4:] + s[:4]:
        total = (total * (100 if ch.isalpha() else 10) + (ord(ch) - 55 if ch.isalpha() else ord(ch) - 48)) % 97
    return total == 1


def _iban_span(m: re.Match[str]) -> int:
    text = m.group(0)
    while True:
        if _iban_ok(text):
            return len(text)
        cut = text.rfind(" ")
        if cut < 8:
            return 0
        text = text[:cut]


def _national_phone_span(m: re.Match[str]) -> int:
    text = m.group(0)
    paren = text.startswith("(")
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


def _ssn_ok(candidate: str) -> bool:
    d = re.sub(r"\D", "", candidate)
    return d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


def old_redact(text: str) -> tuple[str, dict[str, int]]:
    """The built-in rules as they ran before the gate: each over the whole text, in this order."""
    counts: dict[str, int] = {}

    def sub(rx: re.Pattern[str], kind: str, text: str, check: Callable[[str], bool] = lambda m: True) -> str:
        def repl(m: re.Match[str]) -> str:
            if not check(m.group(0)):
                return m.group(0)
            counts[kind] = counts.get(kind, 0) + 1
            return redact.PLACEHOLDERS[kind]

        return rx.sub(repl, text)

    def sub_prefix(rx: re.Pattern[str], kind: str, text: str, span: Callable[[re.Match[str]], int]) -> str:
        def repl(m: re.Match[str]) -> str:
            n = span(m)
            if not n:
                return m.group(0)
            counts[kind] = counts.get(kind, 0) + 1
            return redact.PLACEHOLDERS[kind] + m.group(0)[n:]

        return rx.sub(repl, text)

    text = text.translate(redact._INVISIBLE)
    if "@" in text:
        text = sub(_EMAIL, "email", text)
    if _DIGIT_PII.search(text) is not None:
        text = sub_prefix(_IBAN, "iban", text, _iban_span)
        text = sub(_CARD, "card", text, lambda m: _luhn_ok(re.sub(r"[ -]", "", m)))
        text = sub(_SSN, "ssn", text)
        text = sub(_PHONE, "phone", text)
        text = sub(_CARD_MORE, "card", text, lambda m: _luhn_ok(re.sub(r"\D", "", m)))
        text = sub(_SSN_MORE, "ssn", text, _ssn_ok)
        text = sub_prefix(_NATIONAL_PHONE, "phone", text, _national_phone_span)
    return text, counts


# ------------------------------------------------------------------ random digit-dense text
_PIECES = [
    *"0123456789", *"0123456789", *" .-()+#/,_a@", "\u0661", "\u00a0", "\u200b", "00", "1 ", "+1 ", "(0", "DE",
    "4111 1111 1111 1111", "4111.1111.1111.1111", "4111#1111#1111#1111", "3782 822463 10005", "4111 11111111 1111",
    "123-45-6789", "123 45 6789", "123456789", "666-45-6789", "(206) 555-0199", "1 206 555 0199", "2065550199",
    "+44 20 7946 0958", "+1 (234) 567 89", "020 7946 0958", "07700 900123", "01 23 45 67 89", "(030) 1234567",
    "0171/1234567", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "jane@mail.com", "1234", "12",
    "GB82 WEST 1234 5698 7654 32 1234", "de89 3704 0044 0532 0130 00", "DE89370400440532013000 12", "DE89 ABCD ",
    "00 00 00 00 00 00", "0123 4567 8901 23", "01.02.2024 12:30", "0171-1234567-89", "(030) 12 34 56 78 90",
]


class _AtCandidates(redact.Redactor):
    """The redactor trying its digit rules at their candidates only, at every length."""

    candidates_from = 0
    whole_text_from = math.inf


class _WholeWhereCandidates(redact.Redactor):
    """The redactor running each digit rule over the whole text when it has a candidate, at every length."""

    candidates_from = 0
    whole_text_from = 0


_REDACTORS = [redact.Redactor(), _AtCandidates(), _WholeWhereCandidates()]

@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_the_gated_redactor_redacts_exactly_what_every_rule_over_the_whole_text_did(text: str) -> None:
    for red in _REDACTORS:
        got = red.redact(text)
        assert (got.text, got.counts) == old_redact(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 .-()+#/a", max_size=60))
def test_any_digits_and_separators_come_out_as_before(text: str) -> None:
    for red in _REDACTORS:
        got = red.redact(text)
        assert (got.text, got.counts) == old_redact(text)


def test_the_seeded_corpus_holds_pii_and_comes_out_as_before() -> None:
    import random

    rng = random.Random(13)
    changed = 0
    for _ in range(5000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 30)))
        expected = old_redact(text)
        for red in _REDACTORS:
            got = red(text)
            assert (got.text, got.counts) == expected, text
        changed += bool(expected[1])
    assert changed > 2500  # most texts held PII: the comparison covered the rules, not only the gate


# ------------------------------------------------------------------ candidates near and far apart
_FILLERS = " .-a#/+(1\u0661?"
"""What lies between candidates: separators, a word character, ``#``, ``+``, a digit, a digit
outside ASCII and a ``?`` (what every character outside ASCII becomes when classified)."""
_SPANS = [0, 1, 2, 3, 5, 9, 17, 23, 35, 36, 37, 64, 400]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_SPANS) | st.integers(0, 200),
                          st.sampled_from(_FILLERS)), max_size=12)
       .map(lambda parts: "".join(piece + filler * k for piece, k, filler in parts)))
def test_candidates_near_and_far_apart_come_out_as_before(text: str) -> None:
    expected = old_redact(text)
    for red in _REDACTORS:
        got = red.redact(text)
        assert (got.text, got.counts) == expected


def test_a_long_text_with_pii_far_apart_is_tried_at_candidates_and_comes_out_as_before() -> None:
    import random

    rng = random.Random(29)
    pieces = [p for p in _PIECES if len(p) > 3]
    for _ in range(20):
        text = "".join(rng.choice(pieces) + rng.choice(_FILLERS) * rng.choice(_SPANS + [1000, 1000]) for _ in range(80))
        expected = old_redact(text)
        assert len(text) >= redact.Redactor.candidates_from and expected[1]
        for red in _REDACTORS:  # the default: long enough for candidates, sparse enough not to scan it all
            got = red.redact(text)
            assert (got.text, got.counts) == expected


# ------------------------------------------------------------------ the checks per match, one by one
@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["DE", "GB", "de", "89", "82", "00", " ", "WEST", "ABCD", "1234", "3704", "0044",
                                 "0532", "0130", "5698", "7654", "32", "1", "\u0661\u0662", "Z"]), max_size=16)
       .map("".join))
def test_the_iban_check_cuts_the_same_groups_as_before(text: str) -> None:
    for m in redact._IBAN.finditer(text):
        assert redact_checks.iban_span(m) == _iban_span(m), m.group(0)
        assert redact.iban_ok(m.group(0)) == _iban_ok(m.group(0))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789 ./-()\u0661", max_size=60))
def test_the_national_phone_check_finds_the_same_span_as_before(text: str) -> None:
    for m in redact._NATIONAL_PHONE.finditer(text):
        assert redact_checks.national_phone_span(m) == _national_phone_span(m), m.group(0)


def test_invisible_characters_go_as_with_translate() -> None:
    text = "a\u200bb\u200c\u200dc\u2060\ufeff\u00add\u00a0e\u202ff\u2007g\u0661\U0001f600"
    assert redact._visible(text) == text.translate(redact._INVISIBLE) == "abcd e f g\u0661\U0001f600"
