"""Each digit rule's candidate starts hold every position where its regex matches (issue #13).

``streams.redact`` runs the card, SSN and phone rules only around these candidates, so a
start missing here would be PII left in the text. Random text dense in digits, separators,
near-miss shapes and characters outside ASCII (which the classes cannot see, and must take
for anything) is checked position by position against ``rx.match`` at every position.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.redact import _RULES
from streams.redact_candidates import Classes, matches, starts

_PIECES = [
    *"0123456789", *" .-()+#/_a?", "\u0661", "\u00e9", "\U0001d7d8", "1 ", "+1 ", "(", "1-",
    "4111 1111 1111 1111", "4111.1111.1111.1111", "4111#1111#1111#1111", "3782 822463 10005", "4111 11111111 1111",
    "4111111111111111", "123-45-6789", "123 45 6789", "123.45.6789", "123456789", "(206) 555-0199",
    "1 (206) 555-0199", "1-206-555-0199", "2065550199", "12065550199", "+44 20 7946 0958", "+1 (234) 567 89",
    "+1 22 33 44", "+12-345-678-901", "+" + "1" * 23, "+" + "1" * 24, "\u0661\u0662\u0663-\u0664\u0665-6789",
    "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "de\u0661\u06629999 1234", "DE89 ABCD ", "xDE89 1234 5678",
]


def _every_start(rule: str, text: str) -> set[int]:
    rx = _RULES[rule][0]
    return {p for p in range(len(text)) if rx.match(text, p)}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_every_position_a_digit_rule_matches_at_is_a_candidate(text: str) -> None:
    classes = Classes(text)
    for rule in _RULES:
        assert _every_start(rule, text) <= set(starts(rule, classes).tolist()), rule


def test_the_candidates_are_few_where_no_rule_can_match() -> None:
    near_misses = ["123 123 123", "123-45-678", "(123) 1", "(206) 555-01", "+12-345-678-901-", "+1 (234)",
                   "+" + "1" * 25, "1234 5678", "4111.1111.1111", "12345678901234567890"]
    text = " x ".join(near_misses * 50)
    classes = Classes(text)
    assert {rule: starts(rule, classes).size for rule in _RULES} == dict.fromkeys(_RULES, 0)


def test_the_candidates_of_a_text_with_pii() -> None:
    text = ("pay 4111 1111 1111 1111, ssn 123-45-6789 or 123 45 6789, call +44 20 7946 0958 or (206) 555-0199, "
            "iban DE89 3704 0044 0532 0130 00")
    classes = Classes(text)
    got = {rule: starts(rule, classes).tolist() for rule in _RULES}
    assert got == {"iban": [103], "card": [4, 108, 113], "ssn": [29], "phone": [62, 82], "card_more": [], "ssn_more": [44]}
    assert all(set(got[rule]) == _every_start(rule, text) for rule in ("iban", "card", "ssn", "phone", "ssn_more"))


_ASCII_PIECES = [p for p in _PIECES if p.isascii() and "?" not in p] + [
    "4111-1111-1111-1111", "4111 111111 11111", "4111#1111#1111#1111", "4111.11111111.1111", "4111 1111 1111 1",
    "4111 1111 1111 11111111", "12345678901234567890", "123.45.6789", "123 45.6789", "#", "-",
]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_ASCII_PIECES), max_size=30).map("".join))
def test_the_fixed_shape_rules_are_read_exactly_from_the_classes(text: str) -> None:
    classes = Classes(text)
    for rule in ("card", "card_more", "ssn_more"):
        found = matches(rule, classes)
        assert found is not None
        rx = _RULES[rule][0]
        every = {(p, m.end()) for p in range(len(text)) if (m := rx.match(text, p))}
        assert set(zip(found[0].tolist(), found[1].tolist(), strict=True)) == every, rule


def test_classes_are_not_exact_where_a_character_stands_for_another() -> None:
    assert matches("card", Classes("4111 1111 1111 1111 \u0661")) is None
    assert matches("card", Classes("4111 1111 1111 1111 ?")) is None


def test_international_numbers_are_candidates_whether_plus_signs_are_few_or_many() -> None:
    numbers = ["+44 20 7946 0958", "+1 (234) 567 89", "+1 22 33 44", "+12-345-678-901", "+" + "1" * 23,
               "+\u0661\u0662 34 56 78", "+1 2 34 56-", "+" + "1" * 24, "+12-345-678-901-", "+1 (234) "]
    few = " and then some more words in between ".join(numbers * 3)  # one "+" in tens of characters: a window each
    many = " ".join(numbers * 3)  # one in a few: sums over the whole text
    near_miss = "+1 2 34 56-"  # six digits, one of them followed by a space: may be one, is not
    for text in (few, many):
        found = set(starts("phone", Classes(text)).tolist())
        assert _every_start("phone", text) <= found
        plus = {p for p in found if text[p] == "+"}
        assert plus == {p for p in _every_start("phone", text) if text[p] == "+"} | {
            p for p in range(len(text)) if text.startswith(near_miss, p)}


def test_classes_of_plain_characters_made_by_comparison_match_their_tables() -> None:
    from streams.redact_candidates import _LITERALS, _TABLES

    classes = Classes("a-+()1 .#x?\u0661 -.\U0001f600_")
    for name in _LITERALS:
        table = np.frombuffer(classes._bytes.translate(_TABLES[name]), dtype=np.bool_)
        assert (classes.padded(name) == table).all(), name
