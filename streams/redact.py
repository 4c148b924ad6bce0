"""PII redaction: applied to every input before it leaves the process or is stored.

Emails, card numbers (Luhn-checked; spaces, dashes, dots or ``#`` between 4-4-4-x,
4-6-5 or 4-8-4 groups), IBANs (compact or in groups of four, mod-97-checked), US
social security numbers (dashed, spaced or a bare run of nine digits that is a valid
one), and phone numbers (international with ``+``, North American, and national
formats that start with ``0`` as in the UK, France and Germany) become typed
placeholders; each task may add its own regexes (``TaskSpec.redact_patterns``), which
become ``[REDACTED]``. Before any rule runs, invisible characters that could split a
pattern (zero-width spaces and joiners, soft hyphens, the byte-order mark) are
removed and no-break spaces become plain spaces.

What is deliberately *not* redacted: store numbers (``#1234``, ``STORE 0423``),
dates, and digit runs that are neither a valid card number nor phone-shaped, since
merchant strings are full of them and they carry the signal the label needs.
A bare run of exactly 10 digits (or 11 starting with 1) standing alone *is*
taken for a phone number: in person-to-person transfers it usually is one; a bare
run of exactly 9 that is a valid SSN is taken for one (a bank routing number is
too, and loses nothing by it). Person names (``ZELLE TO JANE DOE``) pass every
pattern: no regex tells a name from a merchant. The optional named-entity pass
(:mod:`streams.names`, ``[streams.names]``) replaces them with ``[PERSON]`` in the
inputs sent to the teacher.

Input is untrusted and up to a megabyte, so every built-in pattern runs in linear
time (no start position rescans the rest of a run, no pattern backtracks through
more than a bounded window): ``bench/redact_bench.py`` measures 1 MiB of each worst
shape. The checks on each match (Luhn, SSN digits, mod 97, national groups) are
:mod:`streams.redact_checks`. In a long input each number rule is tried only where it
may start (:mod:`streams.redact_candidates`, every position classified at once), and its
checks run for all its matches at once (:mod:`streams.redact_batch`); the matches are
exactly those of every rule over the whole text. A task's own ``redact_patterns`` are
the operator's: they run as written, so keep them anchored on a literal
(``ACCT\\s*\\d{6,}``), never ``\\w+@``-like.

>>> r = Redactor().redact("ZELLE TO JANE jane.doe@mail.com 4111 1111 1111 1111 (206) 555-0199 #1234")
>>> r.text
'ZELLE TO JANE [EMAIL] [CARD] [PHONE] #1234'
>>> sorted(r.counts.items())
[('card', 1), ('email', 1), ('phone', 1)]
>>> Redactor().redact("SEPA DE89 3704 0044 0532 0130 00 jane\u200b@mail.com 07700 900123").text
'SEPA [IBAN] [EMAIL] [PHONE]'
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distillery.errors import ConfigError
from distillery.events import InferenceEvent
from distillery.taskspec import TaskSpec
from streams import redact_batch
from streams.redact_candidates import Classes, matches, starts
from streams.redact_checks import (
    Judge,
    card_more_ok,
    card_ok,
    checked_all_at_once,
    iban_judge,
    iban_span,
    national_judge,
    national_phone_span,
    ssn_ok,
    whole,
)
from streams.redact_checks import iban_ok as iban_ok  # re-exported: the checks' public names, as before
from streams.redact_checks import luhn_ok as luhn_ok


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

_DIGIT_PII = re.compile(r"[+(\d](?:[ .()+#/-]*+\d){5}")
"""A text the card, SSN and phone rules can match holds six digits joined only by
separators (``[ .()+#/-]``), the first after a ``+``, ``(`` or digit: a card has 13,
an SSN 9, a NANP or bare phone 10, an international one at least 1+1+2+2. Most
merchant strings hold a store number and no such run, and skip those three rules."""

# Cards the 4-4-4-x rule above leaves: dots or '#' between the groups, or 4-8-4 groups.
# (?<![\d#])(?:\d{4}(?P<s1>[.#])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,7}|\d{4}(?P<s2>[ .#-])\d{8}(?P=s2)\d{4})(?!\d)
_CARD_MORE = re.compile(
    r"\d(?<![\d#]\d)(?:\d{3}(?P<m1>[.#])\d{4}(?P=m1)\d{4}(?P=m1)\d{1,7}"
    r"|\d{3}(?P<m2>[ .#-])\d{8}(?P=m2)\d{4})(?!\d)"
)
# SSNs without dashes: 3-2-4 with spaces or dots, or nine digits standing alone (checked by ssn_ok).
# (?<![\w#])\d{3}(?P<s>[ .]?)\d{2}(?P=s)\d{4}(?![\w-])
_SSN_MORE = re.compile(r"\d(?<![\w#]\d)\d{2}(?P<n>[ .]?)\d{2}(?P=n)\d{4}(?![\w-])")
# IBAN: country letters, check digits, then up to 30 letters or digits, compact or in groups of four
# (a group of 1-4 last); mod 97 decides (iban_span). Starts only at a word start, and every
# quantifier is bounded: each start position costs a bounded window, so the scan is linear.
_IBAN = re.compile(
    r"[A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z]\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?(?![A-Za-z0-9])"
)
# National phone numbers that start with 0 (UK 020 7946 0958, 07700 900123; FR 01 23 45 67 89,
# 06.12.34.56.78; DE 030 12345678, 0171/1234567, (030) 1234567): a possessive run of digits and single separators
# (nothing to backtrack through), cut to the longest leading groups that hold 10 to 12 digits.
_NATIONAL_PHONE = re.compile(
    r"(?:0(?<![\w#+.,/]0)\d{1,4}+|\(0\d{1,4}+\) ?\d{2,8}+)(?:[ ./-]\d{2,8}+){0,5}+")
_DIGIT_RULES = ("card", "ssn", "phone", "card_more", "ssn_more")
"""The digit rules, in the order they run: each tried only at the places it may match.

Each rule in turn, each a scan of every digit of the text, cost 40-120 ms per mebibyte of
digits and separators even where they matched nothing (issue #13). Now each rule's
candidate starts are found for all positions at once (:mod:`streams.redact_candidates`,
a superset of where its regex matches the text as the earlier rules left it), and the
rule is tried only there: where there is none, not at all; where they are dense, it scans
the whole text as before (one C-level scan is cheaper than a Python call per candidate).
The matches are exactly those of every rule over the whole text, in the same order (a
hypothesis test compares)."""


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None) | dict.fromkeys(
    map(ord, "\u00a0\u202f\u2007"), " ")
"""Zero-width characters, soft hyphen and BOM removed; no-break spaces made spaces."""


def _visible(text: str) -> str:
    """``text.translate(_INVISIBLE)``: one ``str.replace`` (a C scan) per such character the text holds.

    ``str.translate`` with a dict takes a Python lookup per character outside ASCII (100 ms per
    mebibyte of them); none of the replacements makes another character of the table.

    >>> _visible("a\u200bb\u00a0c\u00ad"), _visible("plain")
    ('ab c', 'plain')
    """
    if text.isascii():
        return text
    for code, to in _INVISIBLE.items():
        ch = chr(code)
        if ch in text:
            text = text.replace(ch, to or "")
    return text


PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "card": "[CARD]",
    "ssn": "[SSN]",
    "phone": "[PHONE]",
    "iban": "[IBAN]",
    "custom": "[REDACTED]",
    "person": "[PERSON]",  # only from the optional named-entity pass (streams.names)
}
"""Kind of PII → the placeholder that replaces it."""


_RULES: dict[str, tuple[re.Pattern[str], str, Callable[[str], bool] | None]] = {
    "iban": (_IBAN, "iban", None),  # its check cuts trailing groups: iban_span, iban_judge
    "card": (_CARD, "card", card_ok),
    "ssn": (_SSN, "ssn", None),
    "phone": (_PHONE, "phone", None),
    "card_more": (_CARD_MORE, "card", card_more_ok),
    "ssn_more": (_SSN_MORE, "ssn", ssn_ok),
}
"""Each number rule: its pattern, the kind of PII it replaces, and the check its matches must pass."""


_JUDGES: dict[str, Judge] = {
    "iban": iban_judge,
    "card": checked_all_at_once(redact_batch.luhn, card_ok),
    "card_more": checked_all_at_once(redact_batch.luhn, card_more_ok),
    "ssn_more": checked_all_at_once(redact_batch.ssn, ssn_ok),
}
"""The checked rules' checks for all their matches in a long text at once (the others replace every match)."""


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
        text = _visible(text)
        # Fast paths: no email without an @, no card, SSN or phone without a digit run (_DIGIT_PII).
        if "@" in text:
            text = self._sub(_EMAIL, "email", text, counts)
        if _DIGIT_PII.search(text) is not None:
            text = self._number_rules(text, counts)
        for rx in self._extra:
            text = self._sub(rx, "custom", text, counts)
        return Redaction(text, counts)

    __call__ = redact

    candidates_from = 4096
    """Texts this long or longer find each digit rule's candidates first (:data:`_DIGIT_RULES`);
    shorter ones run the rules over the whole text, cheaper than classifying their characters."""

    whole_text_from = 1 / 24
    """Where a rule has more candidates than this share of the text's characters, it scans all of it."""

    def _number_rules(self, text: str, counts: dict[str, int]) -> str:
        """IBANs, then the card, SSN and phone rules in order, then national phone numbers.

        IBANs first: their mod-97 check is the strongest, and their digit groups look like
        cards and phones. In a long text each rule is tried only where it may match the
        text as the last one left it (:data:`_DIGIT_RULES`), and checks are made for all
        matches at once.
        """
        if len(text) < self.candidates_from:
            text = self._sub_prefix(_IBAN, "iban", text, counts, iban_span)
            for rule in _DIGIT_RULES:
                rx, kind, check = _RULES[rule]
                text = self._sub(rx, kind, text, counts, check)
            return self._sub_prefix(_NATIONAL_PHONE, "phone", text, counts, national_phone_span)
        classes: Classes | None = None
        for rule in ("iban", *_DIGIT_RULES):
            rx, kind, _ = _RULES[rule]
            judge = _JUDGES.get(rule)
            if classes is None:
                classes = Classes(text)
            found = starts(rule, classes)
            if not found.size:
                continue
            before = counts.get(kind, 0)
            if found.size < self.whole_text_from * len(text):  # few: tried at each
                spans = self._spans_at(rx, text, found.tolist())
                text = self._replace(kind, text, counts, *spans, judge or whole)
            elif judge is None:  # many, no check: one C-level scan and replacement
                text = self._sub(rx, kind, text, counts)
            elif (every := matches(rule, classes)) is None:
                text = self._sub_judged(rx, kind, text, counts, judge)
            else:  # the rule's fixed shape read from the classes: no scan, no match objects
                chosen = redact_batch.leftmost(*every)
                text = self._replace(kind, text, counts, every[0][chosen], every[1][chosen], judge)
            if counts.get(kind, 0) != before:  # replaced: the next rule's candidates from the new text
                classes = None
        return self._sub_judged(_NATIONAL_PHONE, "phone", text, counts, national_judge)

    @staticmethod
    def _spans_at(rx: re.Pattern[str], text: str, candidates: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The matches ``rx.sub`` would find in ``text`` when ``rx`` can match only at ``candidates`` (sorted).

        ``sub`` tries every position from where its last match ended; each one that is not a
        candidate fails, so trying the candidates in order from there finds the same matches.
        """
        found_starts: list[int] = []
        found_ends: list[int] = []
        scanned = 0
        match = rx.match
        for start in candidates:
            if start < scanned:
                continue
            m = match(text, start)
            if m is not None:
                scanned = m.end()
                found_starts.append(start)
                found_ends.append(scanned)
        return np.array(found_starts, dtype=np.int64), np.array(found_ends, dtype=np.int64)

    @staticmethod
    def _sub_judged(rx: re.Pattern[str], kind: str, text: str, counts: dict[str, int], judge: Judge) -> str:
        """``rx.sub`` over ``text`` where ``judge`` tells for all matches at once how many leading characters
        of each to replace (0: none; the rest of a match is kept), as ``_sub`` and ``_sub_prefix`` do one by one."""
        spans = np.fromiter(itertools.chain.from_iterable(map(re.Match.span, rx.finditer(text))), dtype=np.int64)
        return Redactor._replace(kind, text, counts, spans[0::2], spans[1::2], judge)

    @staticmethod
    def _replace(kind: str, text: str, counts: dict[str, int], starts: np.ndarray, ends: np.ndarray,
                 judge: Judge) -> str:
        """``text`` with the leading characters ``judge`` picks of each match (``starts``, ``ends``) replaced."""
        if not starts.size:
            return text
        cut = judge(text, starts, ends)
        replaced = np.flatnonzero(cut > 0)
        if not replaced.size:
            return text
        counts[kind] = counts.get(kind, 0) + int(replaced.size)
        resume = (starts[replaced] + cut[replaced]).tolist()
        pieces = [text[a:b] for a, b in zip([0, *resume], [*starts[replaced].tolist(), len(text)], strict=True)]
        return PLACEHOLDERS[kind].join(pieces)

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

    @staticmethod
    def _sub_prefix(rx: re.Pattern[str], kind: str, text: str, counts: dict[str, int],
                    span: Callable[[re.Match[str]], int]) -> str:
        """Replace the first ``span(m)`` characters of each match (none when 0), keep the rest."""
        placeholder = PLACEHOLDERS[kind]

        def repl(m: re.Match[str]) -> str:
            n = span(m)
            if not n:
                return m.group(0)
            counts[kind] = counts.get(kind, 0) + 1
            return placeholder + m.group(0)[n:]

        return rx.sub(repl, text)


def redact_answer(redactor: Redactor, value: Any) -> Any:
    """An output redacted as stored: a string redacted, every string inside JSON redacted, else unchanged.

    >>> redact_answer(Redactor(), {"payee": "jane@x.io", "amount": 12, "tags": ["206-555-0199"]})
    {'payee': '[EMAIL]', 'amount': 12, 'tags': ['[PHONE]']}
    """
    if isinstance(value, str):
        return redactor(value).text
    if isinstance(value, dict):
        return {k: redact_answer(redactor, v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_answer(redactor, v) for v in value]
    return value


def redact_event(redactor: Redactor, event: InferenceEvent, text: str) -> InferenceEvent:
    """``event`` with its input and its production output redacted: the copy every store and topic keeps.

    ``text`` is the input already redacted as one string (:meth:`InferenceEvent.input_text`);
    chat messages are redacted one by one. The ground-truth ``label`` is kept as given.
    """
    if isinstance(event.input, str):
        redacted_input: Any = text
    else:
        redacted_input = [m.model_copy(update={"content": redactor(m.content).text}) for m in event.input]
    return event.model_copy(update={"input": redacted_input, "output": redact_answer(redactor, event.output)})
