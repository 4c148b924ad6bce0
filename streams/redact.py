"""PII redaction: applied to every input before it leaves the process or is stored.

Emails, card numbers (Luhn-checked, spaces or dashes allowed), US social security
numbers and phone numbers become typed placeholders; each task may add its own
regexes (``TaskSpec.redact_patterns``), which become ``[REDACTED]``.

What is deliberately *not* redacted: store numbers (``#1234``, ``STORE 0423``),
dates, and digit runs that are neither a valid card number nor phone-shaped, since
merchant strings are full of them and they carry the signal the label needs.
A bare run of exactly 10 digits (or 11 starting with 1) standing alone *is*
taken for a phone number: in person-to-person transfers it usually is one.

>>> r = Redactor().redact("ZELLE TO JANE jane.doe@mail.com 4111 1111 1111 1111 (206) 555-0199 #1234")
>>> r.text
'ZELLE TO JANE [EMAIL] [CARD] [PHONE] #1234'
>>> sorted(r.counts.items())
[('card', 1), ('email', 1), ('phone', 1)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from distillery.errors import ConfigError
from distillery.taskspec import TaskSpec

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# 13-19 digits in one run, in 4-4-4-x groups or Amex's 4-6-5 (one separator kind); Luhn decides.
_CARD = re.compile(
    r"(?<![\d#])(?:\d{13,19}"
    r"|\d{4}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,7}"
    r"|\d{4}(?P<s2>[ -])\d{6}(?P=s2)\d{5})(?!\d)"
)
_SSN = re.compile(r"(?<![\d#])\d{3}-\d{2}-\d{4}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w#])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"  # international, with +
    r"|(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # NANP, separated
    r"|1?\d{10}"  # a bare 10-digit run (11 with a leading 1)
    r")(?![\w-])"
)

_MAYBE_PII = re.compile(r"@|\d(?:\D*\d){5}")
"""A text none of the built-ins can match lacks both: an email needs ``@``; a card
(13+ digits), an SSN (9), a NANP or bare phone (10) and an international phone
(``+`` then at least 1+1+2+2 digits) all need six digits or more."""

PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "card": "[CARD]",
    "ssn": "[SSN]",
    "phone": "[PHONE]",
    "custom": "[REDACTED]",
}
"""Kind of PII → the placeholder that replaces it."""


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (digits only) passes the Luhn checksum of card numbers.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class Redaction:
    """The redacted text and how many of each kind of PII were replaced."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.counts)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Redactor:
    """Replaces PII with typed placeholders; one per task (built-ins plus its patterns)."""

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        compiled = []
        for i, pattern in enumerate(extra_patterns):
            try:
                compiled.append(re.compile(pattern))
            except re.error as err:
                raise ConfigError(
                    f"redact_patterns[{i}] = {pattern!r} is not a valid regular expression ({err}); "
                    "fix or remove it",
                    key="redact_patterns",
                ) from None
        self._extra = tuple(compiled)

    @classmethod
    def for_task(cls, spec: TaskSpec) -> Redactor:
        return cls(spec.redact_patterns)

    def redact(self, text: str) -> Redaction:
        """``text`` with every match replaced, plus counts per kind (empty when unchanged)."""
        counts: dict[str, int] = {}
        # Fast path: most merchant strings hold a store number but no PII (see _MAYBE_PII).
        if _MAYBE_PII.search(text) is not None:
            text = self._sub(_EMAIL, "email", text, counts)
            text = self._sub(_CARD, "card", text, counts, check=lambda m: luhn_ok(re.sub(r"[ -]", "", m)))
            text = self._sub(_SSN, "ssn", text, counts)
            text = self._sub(_PHONE, "phone", text, counts)
        for rx in self._extra:
            text = self._sub(rx, "custom", text, counts)
        return Redaction(text, counts)

    __call__ = redact

    @staticmethod
    def _sub(
        rx: re.Pattern[str],
        kind: str,
        text: str,
        counts: dict[str, int],
        check: Callable[[str], bool] | None = None,
    ) -> str:
        placeholder = PLACEHOLDERS[kind]

        def repl(m: re.Match[str]) -> str:
            if check is not None and not check(m.group(0)):
                return m.group(0)
            counts[kind] = counts.get(kind, 0) + 1
            return placeholder

        return rx.sub(repl, text)
