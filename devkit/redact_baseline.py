"""Hostile text for the redactor, and the redactor as it was before issue #13.

The benchmark (``bench/redact_bench.py``) and the linear-time tests
(``tests/unit/streams/test_streams_redact_hostile.py``) run the same worst shapes
and compare with the same baseline, so both live here once.

* :func:`hostile_shapes`: the worst shape found for each rule, ``n`` characters each
  (seeded);
* :func:`old_redact`: the built-in rules before #13 (a quadratic email pattern, a
  phone form that tried hundreds of digit splits after each ``+``); what the
  rewritten patterns must still redact, and the cost they are measured against.

>>> old_redact("mail jane.doe@mail.com or call (206) 555-0199")
('mail [EMAIL] or call [PHONE]', {'email': 1, 'phone': 1})
>>> sorted(hostile_shapes(64))[:3]
['cards', 'digit_dash', 'digit_dot']
>>> {len(text) for text in hostile_shapes(64).values()}
{64}
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from streams.redact import PLACEHOLDERS, luhn_ok

OLD_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
OLD_CARD = re.compile(
    r"(?<![\d#])(?:\d{13,19}|\d{4}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,7}|\d{4}(?P<s2>[ -])\d{6}(?P=s2)\d{5})(?!\d)"
)
OLD_SSN = re.compile(r"(?<![\d#])\d{3}-\d{2}-\d{4}(?![\d-])")
OLD_PHONE = re.compile(
    r"(?<![\w#])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"
    r"|(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}|1?\d{10})(?![\w-])"
)
OLD_MAYBE = re.compile(r"@|\d(?:\D*\d){5}")


def old_redact(text: str) -> tuple[str, dict[str, int]]:
    """The redactor before issue #13 (built-in rules only): the text and how many of each kind it replaced."""
    counts: dict[str, int] = {}

    def sub(rx: re.Pattern[str], kind: str, text: str, check: Callable[[str], bool] | None = None) -> str:
        def repl(m: re.Match[str]) -> str:
            if check and not check(m.group(0)):
                return m.group(0)
            counts[kind] = counts.get(kind, 0) + 1
            return PLACEHOLDERS[kind]

        return rx.sub(repl, text)

    if OLD_MAYBE.search(text):
        text = sub(OLD_EMAIL, "email", text)
        text = sub(OLD_CARD, "card", text, lambda m: luhn_ok(re.sub(r"[ -]", "", m)))
        text = sub(OLD_SSN, "ssn", text)
        text = sub(OLD_PHONE, "phone", text)
    return text, counts


def fill(unit: str, n: int, prefix: str = "123456 ") -> str:
    """``n`` characters of ``unit`` repeated, after a prefix that defeats the no-PII fast path."""
    return (prefix + unit * (n // len(unit) + 1))[:n]


def hostile_shapes(n: int) -> dict[str, str]:
    """The worst shapes found for each rule, ``n`` characters each (seeded)."""
    rng = random.Random(13)
    return {
        "local_run_no_at": fill("a", n),
        "many_at": fill("a@", n),
        "only_at": fill("@", n),
        "dots_after_at": "x@b" + fill(".b", n - 3, ""),
        "local_dots_then_at": fill("a.", n - 1) + "@",
        "digits": fill("1", n),
        "digit_letter": fill("1a", n),
        "digit_space": fill("1 ", n),
        "digit_dash": fill("1-", n),
        "digit_dot": fill("1.", n),
        "plus_25_digits": fill("+" + "1" * 25 + " ", n),
        "plus_30_digits": fill("+" + "1" * 30 + " ", n),
        "plus_groups": fill("+1 22 33 44 55 66 77 88 99 ", n),
        "plus_dash_groups": fill("+12-345-678-901-234-567-", n),
        "paren_groups": fill("+1 (234) ", n),
        "nanp_almost": fill("1 (206) 555-01", n),
        "ssn_almost": fill("123-45-678", n),
        "cards": fill("4111 1111 1111 1111 ", n),
        "random_phone_chars": "".join(rng.choice("0123456789 .-()+") for _ in range(n)),
        "random_email_chars": "".join(rng.choice("ab1.@-_%+") for _ in range(n)),
        "mixed_unicode": "".join(rng.choice("a1 @.-+(\u0661\u00a0\u200b\U0001f600") for _ in range(n)),
        # digit-dense shapes beside the first ones (a digit between each separator kind, runs, near misses)
        "digit_hash": fill("1#", n),
        "digit_paren": fill("1(", n),
        "digit_slash": fill("1/", n),
        "digit_plus": fill("1+", n),
        "plus_run": fill("+", n),
        "digit_pairs": fill("12", n),
        "triples_space": fill("123 ", n),
        "triples_dash": fill("123-", n),
        "paren_triples": fill("(123) ", n),
        "ssn_spaced_almost": fill("123 45 678", n),
        "groups_of_4": fill("1234 ", n),
        "groups_of_4_dash": fill("1234-", n),
        "zero_groups": fill("00 ", n),
        "national_groups": fill("01 23 45 67 89 12 ", n),
        "dotted_card_groups": fill("4111.1111.", n),
        "nine_digit_runs": fill("123456789 ", n),
        "phones": fill("(206) 555-0199 ", n),
        "iban_groups": fill("DE89 ABCD ", n),
        "iban_run": fill("de89" + "a1" * 20 + " ", n),
        "hash_groups": fill("1234#", n),
        "zero_width_digits": fill("1\u200b", n),
        "random_iban_chars": "".join(rng.choice("DEGB0123456789 ") for _ in range(n)),
    }
