"""The checks of many matches at once say what the checks one by one say, or that they cannot tell (issue #13)."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import redact, redact_checks
from streams.redact_batch import as_codes, iban_spans, luhn, national_spans, ssn

_DIGITS = st.sampled_from([*"0123456789", "0", "9", "\u0661", "\U0001d7d8"])


def _spans(rx: re.Pattern[str], text: str) -> tuple[np.ndarray, np.ndarray]:
    found = [m.span() for m in rx.finditer(text)]
    return np.array([a for a, _ in found], dtype=np.int64), np.array([b for _, b in found], dtype=np.int64)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_DIGITS, st.sampled_from([" ", "-", ".", "#", "a", " 4111 1111 1111 1111 "])), max_size=80)
       .map("".join))
def test_luhn_for_all_card_matches_at_once(text: str) -> None:
    for rx, check in ((redact._CARD, redact_checks.card_ok), (redact._CARD_MORE, redact_checks.card_more_ok)):
        starts, ends = _spans(rx, text)
        if not starts.size:
            continue
        ok, unsure = luhn(as_codes(text), starts, ends)
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            assert unsure[i] == (not text[a:b].isascii())
            if not unsure[i]:
                assert ok[i] == check(text[a:b]), text[a:b]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_DIGITS, st.sampled_from([" ", ".", "-", "a", " 123 45 6789 ", "666", "000", "00"])),
                max_size=60).map("".join))
def test_ssn_digits_for_all_matches_at_once(text: str) -> None:
    starts, ends = _spans(redact._SSN_MORE, text)
    if starts.size:
        ok, unsure = ssn(as_codes(text), starts, ends)
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            assert unsure[i] == (not text[a:b].isascii())
            if not unsure[i]:
                assert ok[i] == redact_checks.ssn_ok(text[a:b]), text[a:b]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_DIGITS, st.sampled_from([" ", ".", "/", "-", "(", ")", " 0", "(0", " 01 23 45 67 89 "])),
                max_size=60).map("".join))
def test_national_spans_for_all_matches_at_once(text: str) -> None:
    starts, ends = _spans(redact._NATIONAL_PHONE, text)
    if starts.size:
        spans = national_spans(as_codes(text), starts, ends)
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            if spans[i] >= 0:
                assert spans[i] == redact_checks.national_phone_chars(text[a:b]), text[a:b]


def test_national_spans_tell_one_separator_numbers_and_leave_the_rest() -> None:
    text = "07700 900123, 00 00 00 00 00 00, 01.02.2024 12, (030) 1234567, 0123 4567 8901 23, 012"
    starts, ends = _spans(redact._NATIONAL_PHONE, text)
    assert national_spans(as_codes(text), starts, ends).tolist() == [12, 17, -1, -1, -1, 0]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["DE", "GB", "de", "gB", "89", "82", "00", " ", " ", "WEST", "ABCD", "1234", "3704",
                                 "0044", "0532", "0130", "5698", "7654", "32", "1", "Z", "\u0661\u0662", " x "]),
                max_size=24).map("".join))
def test_iban_spans_for_all_matches_at_once(text: str) -> None:
    starts, ends = _spans(redact._IBAN, text)
    if starts.size:
        spans = iban_spans(as_codes(text), starts, ends)
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            assert spans[i] == (redact_checks.iban_chars(text[a:b]) if text[a:b].isascii() else -1), text[a:b]


def test_iban_spans_cut_trailing_groups_that_are_not_part_of_it() -> None:
    text = "GB82 WEST 1234 5698 7654 32 1234 x DE89 3704 0044 0532 0130 00 gb82west12345698765432 DE89 ABCD DE89 ABCD"
    starts, ends = _spans(redact._IBAN, text)
    assert iban_spans(as_codes(text), starts, ends).tolist() == [27, 27, 22, 0]
