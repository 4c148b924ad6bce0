"""PII redaction: exactly what changes, what stays, and the counts."""

from __future__ import annotations

import random
import re

import pytest

from distillery.errors import ConfigError
from distillery.taskspec import TaskSpec
from streams.redact import (
    _CARD,
    _CARD_MORE,
    _EMAIL,
    _IBAN,
    _NATIONAL_PHONE,
    _PHONE,
    _SSN,
    _SSN_MORE,
    Redaction,
    Redactor,
    luhn_ok,
)
from streams.redact_checks import iban_span, national_phone_span, ssn_ok


@pytest.mark.parametrize(
    ("text", "expected", "counts"),
    [
        ("ZELLE TO jane.doe+bank@mail.example.com", "ZELLE TO [EMAIL]", {"email": 1}),
        ("CARD 4111 1111 1111 1111 DECLINED", "CARD [CARD] DECLINED", {"card": 1}),
        ("CARD 5500-0000-0000-0004", "CARD [CARD]", {"card": 1}),
        ("CARD 378282246310005", "CARD [CARD]", {"card": 1}),  # Amex, 15 digits
        ("VENMO *J SMITH (206) 555-0199", "VENMO *J SMITH [PHONE]", {"phone": 1}),
        ("AMZN MKTP US*2K4LJ3 866-216-1072 WA", "AMZN MKTP US*2K4LJ3 [PHONE] WA", {"phone": 1}),
        ("CALL +44 20 7946 0958 NOW", "CALL [PHONE] NOW", {"phone": 1}),
        ("ZELLE TO 2065550199", "ZELLE TO [PHONE]", {"phone": 1}),
        ("SSN 123-45-6789 ON FILE", "SSN [SSN] ON FILE", {"ssn": 1}),
        ("AMEX 3782 822463 10005", "AMEX [CARD]", {"card": 1}),
        ("4111 1111 1111 1111 206-555-0199", "[CARD] [PHONE]", {"card": 1, "phone": 1}),
        (
            "a@b.io and c@d.io 4111111111111111",
            "[EMAIL] and [EMAIL] [CARD]",
            {"email": 2, "card": 1},
        ),
    ],
)
def test_redacts_pii(text: str, expected: str, counts: dict[str, int]) -> None:
    r = Redactor().redact(text)
    assert r.text == expected
    assert r.counts == counts
    assert r.changed and r.total == sum(counts.values())


@pytest.mark.parametrize(
    "text",
    [
        "STARBUCKS #1234 SEATTLE WA",
        "SHELL OIL 57444 PORTLAND OR",
        "WM SUPERCENTER #5678 CARD 0423",
        "CHECKCARD 0115 TARGET T-2345",
        "PURCHASE AUTHORIZED ON 01/15 KROGER #0423",
        "REF 20240115123 ACH",  # 11 digits, not a phone shape, not a card length
        "CARD 4111 1111 1111 1112",  # card-shaped but fails Luhn
        "POS 1234567890123 X",  # 13 digits, fails Luhn
        "#2065550199",  # a store/ref number behind '#', not a phone
        "AMAZON.COM*2K4LJ3ZX0",
        "GB82 WEST 1234 5698 7654 33",  # IBAN-shaped, fails mod 97
        "SSN 666456789",  # not a valid SSN (area 666)
        "DATE 01.02.2024 12:30",
        "PAID 10.01 23 EUR",
        "ORDER 0123456789012345 SHIPPED",  # 16 digits, fails Luhn, no phone shape
    ],
)
def test_leaves_merchant_numbers_alone(text: str) -> None:
    r = Redactor().redact(text)
    assert r.text == text
    assert r.counts == {} and not r.changed


def test_task_patterns_become_redacted_placeholders() -> None:
    spec = TaskSpec(name="t", kind="classification", labels=["a", "b"], redact_patterns=[r"ACCT\s*\d{6,}", "MRN-\\w+"])
    r = Redactor.for_task(spec).redact("ACCT 00123456 MRN-77AB x@y.org")
    assert r.text == "[REDACTED] [REDACTED] [EMAIL]"
    assert r.counts == {"custom": 2, "email": 1}


def test_bad_task_pattern_fails_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"redact_patterns\[1\] = '\(unclosed'"):
        Redactor(["ok", "(unclosed"])


def test_redaction_is_idempotent() -> None:
    red = Redactor()
    once = red.redact("jane@x.com 4111111111111111 206-555-0199").text
    assert red.redact(once).text == once
    assert red.redact(once).counts == {}


def test_luhn() -> None:
    assert [luhn_ok(n) for n in ("4111111111111111", "79927398713", "79927398710", "0")] == [True, True, False, True]


def _every_rule(text: str) -> Redaction:
    """The built-in rules applied with no fast path, in the order ``Redactor`` applies them."""
    counts: dict[str, int] = {}
    text = Redactor._sub(_EMAIL, "email", text, counts)
    text = Redactor._sub_prefix(_IBAN, "iban", text, counts, iban_span)
    text = Redactor._sub(_CARD, "card", text, counts, check=lambda m: luhn_ok(re.sub(r"[ -]", "", m)))
    text = Redactor._sub(_SSN, "ssn", text, counts)
    text = Redactor._sub(_PHONE, "phone", text, counts)
    text = Redactor._sub(_CARD_MORE, "card", text, counts, check=lambda m: luhn_ok(re.sub(r"\D", "", m)))
    text = Redactor._sub(_SSN_MORE, "ssn", text, counts, check=ssn_ok)
    text = Redactor._sub_prefix(_NATIONAL_PHONE, "phone", text, counts, national_phone_span)
    return Redaction(text, counts)


@pytest.mark.parametrize("text", [
    "+1 22 33", "+12 34 56", "+1 2 34 56", "+1 (2) 34 56", "1234 5", "12-34-56", "SHELL #12345 TX 7",
    "a@b.co", "STARBUCKS #1234 SEATTLE", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660",
])
def test_fast_path_skips_only_text_no_rule_can_match(text: str) -> None:
    assert Redactor().redact(text) == _every_rule(text)


def test_fast_path_agrees_with_every_rule_on_random_text() -> None:
    rng = random.Random(7)
    alphabet = "0123456789" * 3 + " -.()+#@" + "ab"
    changed = 0
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 32)))
        expected = _every_rule(text)
        assert Redactor().redact(text) == expected, text
        changed += expected.changed
    assert changed > 500  # the draw holds plenty of PII-shaped text, so the comparison means something
