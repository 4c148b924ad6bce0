"""PII redaction: applied to every input before it leaves the process or is stored.

Emails, card numbers (Luhn-checked, spaces or dashes allowed), US social security
numbers and phone numbers become typed placeholders; each task may add its own
regexes (``TaskSpec.redact_patterns``), which become ``[REDACTED]``.

What is deliberately *not* redacted: store numbers (``#1234``, ``STORE 0423``),
dates, and digit runs that are neither a valid card number nor phone-shaped, since
merchant strings are full of them and they carry the signal the label needs.
A bare run of exactly 10 digits (or 11 starting with 1) standing alone *is*
taken for a phone number: in person-to-person transfers it usually is one.

Input is untrusted and up to a megabyte, so every built-in pattern runs in linear
time (no start position rescans the rest of a run, no pattern backtracks through
more than a bounded window): ``bench/redact_bench.py`` measures 1 MiB of each worst
shape. A task's own ``redact_patterns`` are the operator's: they run as written,
so keep them anchored on a literal (``ACCT\\s*\\d{6,}``), never ``\\w+@``-like.

>>> r = Redactor().redact("ZELLE TO JANE jane.doe@mail.com 4111 1111 1111 1111 (206) 555-0199 #1234")
>>> r.text
'ZELLE TO JANE [EMAIL] [CARD] [PHONE] #1234'
>>> sorted(r.counts.items())
[('card', 1), ('email', 1), ('phone', 1)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from distillery.errors import ConfigError
from distillery.taskspec import TaskSpec


class _RunStartPattern:
    """A pattern that begins with a run of ``run`` characters, searched in linear time.

    ``re`` tries a pattern at every position: one that starts with ``[run]+`` and then
    fails (``local@`` with no usable domain, or no ``@`` at all) rescans the rest of
    the run from each of its characters, quadratic in the run. The match ``re`` would
    find can only start where a run starts (every start inside a run reaches the same
    end and fails or succeeds alike), or exactly where the previous match ended, so
    those are the only places tried: ``(?<![run])`` skips the others in one step, and
    the run is matched possessively (nothing to give back: the character after it is
    fixed). The matches are exactly those of the plain pattern, found in linear time.
    """

    def __init__(self, run: str, rest: str) -> None:
        self.pattern = f"[{run}]+{rest}"
        self._here = re.compile(f"[{run}]++{rest}")
        self._run_start = re.compile(f"(?<![{run}])[{run}]++{rest}")

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        pos, last_end = 0, -1
        while pos < len(text):
            m = self._here.match(text, pos) if pos == last_end else None
            if m is None:
                m = self._run_start.search(text, pos + 1 if pos == last_end else pos)
            if m is None:
                return
            yield m
            pos = last_end = m.end()

    def sub(self, repl: Callable[[re.Match[str]], str], text: str) -> str:
        parts: list[str] = []
        pos = 0
        for m in self.finditer(text):
            parts.append(text[pos:m.start()])
            parts.append(repl(m))
            pos = m.end()
        if not parts:
            return text
        parts.append(text[pos:])
        return "".join(parts)

    def subn(self, placeholder: str, text: str) -> tuple[str, int]:
        """``text`` with every match replaced by ``placeholder`` (taken literally), and how many."""
        n = 0

        def repl(m: re.Match[str]) -> str:
            nonlocal n
            n += 1
            return placeholder

        return self.sub(repl, text), n


_EMAIL = _RunStartPattern("A-Za-z0-9._%+-", r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
r"""``[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}``, in linear time.

The domain part backtracks only within the run after one ``@`` (labels are split
by single dots, so it gives back one label at a time), and those runs do not
overlap: linear too."""

# The digit patterns below are written to start with a character class, so ``re``
# skips every position that cannot start a match in its C loop; the boundary each
# one needs (no digit or ``#`` before a card or SSN, no word character or ``#``
# before a phone number) is checked right after the first character by a two-wide
# lookbehind. They match exactly what the plain forms in the comments do.

# 13-19 digits in one run, in 4-4-4-x groups or Amex's 4-6-5 (one separator kind); Luhn decides.
# (?<![\d#])(?:\d{13,19}|\d{4}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,7}|\d{4}(?P<s2>[ -])\d{6}(?P=s2)\d{5})(?!\d)
_CARD = re.compile(
    r"\d(?<![\d#]\d)(?:\d{12,18}"
    r"|\d{3}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,7}"
    r"|\d{3}(?P<s2>[ -])\d{6}(?P=s2)\d{5})(?!\d)"
)
# (?<![\d#])\d{3}-\d{2}-\d{4}(?![\d-])
_SSN = re.compile(r"\d(?<![\d#]\d)\d{2}-\d{2}-\d{4}(?![\d-])")
# (?<![\w#])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}     international, with +
#            |(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}                 NANP, separated
#            |1?\d{10})(?![\w-])                                                  a bare 10-digit run (11 with a leading 1)
# split by first character, alternatives in the same order. The international form also
# asks first that the digits right after the + be at most 23 (3 + 4 + 4 * 4, all it can
# take without a separator): longer runs can never match, and they are what made the
# many ways to split the digits into groups expensive (hundreds of tries per +).
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

_DIGIT_PII = re.compile(r"[+(\d](?:[ .()+-]*+\d){5}")
"""A text the card, SSN and phone rules can match holds six digits joined only by
separators (``[ .()+-]``), the first after a ``+``, ``(`` or digit: a card has 13,
an SSN 9, a NANP or bare phone 10, an international one at least 1+1+2+2. Most
merchant strings hold a store number and no such run, and skip those three rules."""

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
        # Fast paths: no email without an @, no card, SSN or phone without a digit run (_DIGIT_PII).
        if "@" in text:
            text = self._sub(_EMAIL, "email", text, counts)
        if _DIGIT_PII.search(text) is not None:
            text = self._sub(_CARD, "card", text, counts, check=lambda m: luhn_ok(re.sub(r"[ -]", "", m)))
            text = self._sub(_SSN, "ssn", text, counts)
            text = self._sub(_PHONE, "phone", text, counts)
        for rx in self._extra:
            text = self._sub(rx, "custom", text, counts)
        return Redaction(text, counts)

    __call__ = redact

    @staticmethod
    def _sub(
        rx: re.Pattern[str] | _RunStartPattern,
        kind: str,
        text: str,
        counts: dict[str, int],
        check: Callable[[str], bool] | None = None,
    ) -> str:
        placeholder = PLACEHOLDERS[kind]
        if check is None:  # one C-level pass: no Python call per match
            text, n = rx.subn(placeholder, text)  # placeholders hold no backslash
            if n:
                counts[kind] = counts.get(kind, 0) + n
            return text

        def repl(m: re.Match[str]) -> str:
            if check is not None and not check(m.group(0)):
                return m.group(0)
            counts[kind] = counts.get(kind, 0) + 1
            return placeholder

        return rx.sub(repl, text)
