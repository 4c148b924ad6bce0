"""Where each digit rule of the redactor can match: candidate starts from character classes.

``re`` tries a pattern at every position its first character allows; on a mebibyte of
digits and separators each of the card, SSN and phone rules costs 40-120 ms even where
it matches nothing (issue #13). Here every character is classified once in C
(``bytes.translate``) and numpy tells, for all positions at once, where each rule's
fixed-offset shape can start: a digit where the rule needs one, its separator where it
needs one, its boundaries. Each mask is a *superset* of the positions where the rule's
regex matches: a character outside ASCII becomes ``?`` and may be anything (a digit,
a word character, or neither), so no start is ever lost; ``streams.redact`` then tries
the rule only at the candidates, and its matches are exactly those of the rule over
the whole text.

>>> text = "call (206) 555-0199 or 123-45-6789, store #1234"
>>> [int(p) for p in starts("phone", Classes(text))], [int(p) for p in starts("ssn", Classes(text))]
([5], [23])
>>> [int(p) for p in starts("card", Classes("x 4111 1111 1111 1111 #4111111111111111 41111111111111111111"))]
[2]
"""

from __future__ import annotations

import numpy as np

_PAD = 40
"""Characters of padding on each side: NUL bytes, which every rule treats as the string's edge does
(not a digit, not a word character, no separator), so lookarounds at either end read the same."""

_DIGITS = "0123456789"
_WORD = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"


def _table(chars: str, unknown: bool, negate: bool = False) -> bytes:
    """A ``bytes.translate`` table: 1 for ``chars`` (for every other ASCII byte with ``negate``), 0 else.

    ``?`` stands for every character outside ASCII (and itself): it gets ``unknown``.
    """
    table = bytearray(256)
    for b in range(128):
        table[b] = (chr(b) in chars) != negate
    table[ord("?")] = unknown
    return bytes(table)


_TABLES = {
    "d": _table(_DIGITS, True),                   # may be \d
    "ad": _table(_DIGITS, False),                 # is an ASCII digit
    "not_d": _table(_DIGITS, True, True),         # may be no \d
    "not_dh": _table(_DIGITS + "#", True, True),  # may be none of [\d#]
    "not_wh": _table(_WORD + "#", True, True),    # may be none of [\w#]
    "not_wd": _table(_WORD + "-", True, True),    # may be none of [\w-]
    "not_dd": _table(_DIGITS + "-", True, True),  # may be none of [\d-]
    "pc": _table(_DIGITS + " .()-", True),        # may be one of [\d .()-] (an international phone's characters)
    "dash": _table("-", False),
    "plus": _table("+", False),
    "lp": _table("(", False),
    "rp": _table(")", False),
    "one": _table("1", False),
    "s3": _table(" .-", False),                   # [ .-]
    "sd": _table(" -", False),                    # [ -]
    "s4": _table(" .#-", False),                  # [ .#-]
    "dh": _table(".#", False),                    # [.#]
    "sp": _table(" .", False),                    # [ .]
    "space": _table(" ", False),
    "alpha": _table(_WORD[10:-1], False),         # [A-Za-z]
    "an": _table(_WORD[:-1], False),              # [A-Za-z0-9]
    "not_an": _table(_WORD[:-1], True, True),     # not [A-Za-z0-9]
}


_RUN_CAP = 32
"""Runs of a class are counted up to this length (a card's run of 13 to 19 digits must be told from 20)."""


_LITERALS = {"dash": "-", "plus": "+", "lp": "(", "rp": ")", "one": "1", "space": " ", "s3": " .-", "sd": " -",
             "dh": ".#", "sp": " ."}
"""Classes of a few plain characters (each also in ``_TABLES``), made by comparing bytes."""


class Classes:
    """The character classes of one text, each a padded boolean array, made on first use.

    Each rule first picks the positions where its first characters may be (:meth:`where`,
    over the whole text at once), then checks the rest of its shape at those positions only
    (:meth:`at`): on text with few of them, the second step costs next to nothing.
    """

    def __init__(self, text: str) -> None:
        self.n = len(text)
        pad = b"\0" * _PAD
        self._bytes = pad + text.encode("ascii", "replace") + pad  # one byte a character: '?' outside ASCII
        self._arrays: dict[str, np.ndarray] = {}
        self._runs: dict[str, np.ndarray] = {}
        self.exact = text.isascii() and "?" not in text
        """Whether every class is known for certain (no character stands for another): :func:`matches` then holds."""

    @property
    def codes(self) -> np.ndarray:
        """The padded text, one byte a character."""
        return np.frombuffer(self._bytes, dtype=np.uint8)

    def padded(self, name: str) -> np.ndarray:
        """Class ``name`` over the padded text (position ``p`` of the text at ``p + _PAD``)."""
        if name == "ad" and self.exact:  # every character is ASCII: a digit is an ASCII digit
            name = "d"
        arr = self._arrays.get(name)
        if arr is None:
            chars = _LITERALS.get(name)
            if chars is None:
                arr = np.frombuffer(self._bytes.translate(_TABLES[name]), dtype=np.bool_)
            else:  # one to three characters: compared, faster than a translation
                codes = self.codes
                arr = codes == ord(chars[0])
                for ch in chars[1:]:
                    arr |= codes == ord(ch)
            self._arrays[name] = arr
        return arr

    def runs(self, name: str) -> np.ndarray:
        """How many characters in a row from each padded position may be ``name`` (at most ``_RUN_CAP``)."""
        if name == "ad" and self.exact:
            name = "d"
        run = self._runs.get(name)
        if run is None:
            run = self.padded(name).astype(np.uint8)
            step = 1
            while step < _RUN_CAP:  # run[i] = min(run length, 2 * step) from min(run length, step), by doubling
                ahead = np.zeros_like(run)
                ahead[:-step] = run[step:]
                run = run + (run == step) * ahead
                step *= 2
            self._runs[name] = run
        return run

    def where(self, name: str, offset: int = 0, length: int = 1) -> np.ndarray:
        """For every position ``p`` of the text: whether ``p + offset`` .. ``p + offset + length - 1`` may all be ``name``."""
        start = _PAD + offset
        if length == 1:
            return self.padded(name)[start:start + self.n]
        return self.runs(name)[start:start + self.n] >= length

    def at(self, first: np.ndarray) -> _At:
        """The same question as :meth:`where`, asked where ``first`` holds: at those positions
        only where they are few (each a lookup), over the whole text where they are many."""
        return _At(self, first)


class _At:
    def __init__(self, classes: Classes, first: np.ndarray) -> None:
        self._classes = classes
        self._first = first
        positions = np.flatnonzero(first)
        self._positions = positions if positions.size * 8 < first.size else None
        self._q = None if self._positions is None else positions + _PAD

    def __call__(self, name: str, offset: int, length: int = 1) -> np.ndarray:
        if self._q is None:
            return self._classes.where(name, offset, length)
        if length == 1:
            return self._classes.padded(name)[self._q + offset]
        return self._classes.runs(name)[self._q + offset] >= length

    def select(self, rest: np.ndarray) -> np.ndarray:
        """The positions where the first characters and ``rest`` may both be."""
        return np.flatnonzero(self._first & rest) if self._positions is None else self._positions[rest]


def _card(c: Classes) -> np.ndarray:
    # \d(?<![\d#]\d)(?:\d{12,18}|\d{3}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{3}([ -])\d{6}\2\d{5})(?!\d)
    at = c.at(c.where("d", 0, 4) & c.where("not_dh", -1))
    run = at("d", 4, 9) & ~at("ad", 13, 7)  # 13 to 19 digits: 20 ASCII ones are too many
    g444 = (at("sd", 4) & at("d", 5, 4) & at("sd", 9) & at("d", 10, 4) & at("sd", 14) & at("d", 15)
            & ~at("ad", 15, 8))
    g465 = at("sd", 4) & at("d", 5, 6) & at("sd", 11) & at("d", 12, 5) & at("not_d", 17)
    return at.select(run | g444 | g465)


def _ssn(c: Classes) -> np.ndarray:
    # \d(?<![\d#]\d)\d{2}-\d{2}-\d{4}(?![\d-])
    at = c.at(c.where("dash", 3) & c.where("dash", 6))
    return at.select(at("d", 0, 3) & at("not_dh", -1) & at("d", 4, 2) & at("d", 7, 4) & at("not_dd", 11))


def _nanp_tail(at: _At, k: int) -> np.ndarray:
    r"""``\d{3}[ .-]\d{4}(?![\w-])`` from ``p + k``."""
    return at("d", k, 3) & at("s3", k + 3) & at("d", k + 4, 4) & at("not_wd", k + 8)


def _phone(c: Classes) -> np.ndarray:
    # [+(\d](?<![\w#][+(\d])(?:intl|(-branch|1 -branch|\d{3}-\d{3}-\d{4}|1\d{10}|\d{10})(?![\w-])
    first = c.where("not_wh", -1)
    shapes = (c.where("lp") | (c.where("one") & c.where("s3", 1) & (c.where("lp", 2) | c.where("d", 2, 3)))
              | (c.where("d", 0, 3) & c.where("s3", 3)) | c.where("d", 0, 10))
    at = c.at(shapes & first)
    paren = at("lp", 0) & at("d", 1, 3) & at("rp", 4) & ((at("s3", 5) & _nanp_tail(at, 6)) | _nanp_tail(at, 5))
    one_sep = at("one", 0) & at("s3", 1) & (
        (at("lp", 2) & at("d", 3, 3) & at("rp", 6) & ((at("s3", 7) & _nanp_tail(at, 8)) | _nanp_tail(at, 7)))
        | (at("d", 2, 3) & at("s3", 5) & _nanp_tail(at, 6)))
    dashed = at("d", 0, 3) & at("s3", 3) & _nanp_tail(at, 4)
    bare = (at("one", 0) & at("d", 1, 10) & at("not_wd", 11)) | (at("d", 0, 10) & at("not_wd", 10))
    found = at.select(paren | one_sep | dashed | bare)
    plus = np.flatnonzero(c.where("plus") & c.where("d", 1) & first)
    if plus.size:
        found = np.union1d(found, _international(c, plus))
    return found
def _international(c: Classes, plus: np.ndarray) -> np.ndarray:
    r"""Those of the ``+`` positions ``plus`` where an international number may start.

    ``\+(?=\d{1,23}(?!\d))\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}(?![\w-])``:
    at most 23 digits right after the ``+``, then at most 35 characters of ``[\d .()-]``
    holding at least six digits, the last of them a digit that no word character or ``-``
    follows.
    """
    q = plus + _PAD  # in padded coordinates
    if plus.size * 32 < c.n:  # few: the 36 characters after each one
        window = q[:, None] + np.arange(1, 37)
        short_run = ~c.padded("ad")[window[:, :24]].all(axis=1)
        in_run = np.logical_and.accumulate(c.padded("pc")[window[:, :35]], axis=1)
        digit = c.padded("d")[window[:, :35]] & in_run
        ending = digit & c.padded("not_wd")[window[:, 1:]]
        return plus[short_run & (digit.sum(axis=1) >= 6) & ending.any(axis=1)]
    # many: sums over the whole text, read at each one
    ad = np.concatenate(([0], np.cumsum(c.padded("ad"), dtype=np.int32)))  # ad[i]: ASCII digits before i
    short_run = ad[q + 25] - ad[q + 1] < 24
    not_pc = np.flatnonzero(~c.padded("pc"))  # the padding ends every run
    end = np.minimum(not_pc[np.searchsorted(not_pc, q + 1)], q + 36)  # the number lies in q+1 .. end-1
    d = c.padded("d")
    digits = np.concatenate(([0], np.cumsum(d, dtype=np.int32)))
    ends_ok = np.zeros(d.size, dtype=np.bool_)
    ends_ok[:-1] = d[:-1] & c.padded("not_wd")[1:]
    last = np.concatenate(([0], np.cumsum(ends_ok, dtype=np.int32)))
    keep = short_run & (digits[end] - digits[q + 1] >= 6) & (last[end] > last[q + 1])
    return plus[keep]


def _card_more(c: Classes) -> np.ndarray:
    # \d(?<![\d#]\d)(?:\d{3}([.#])\d{4}\1\d{4}\1\d{1,7}|\d{3}([ .#-])\d{8}\2\d{4})(?!\d)
    at = c.at(c.where("d", 0, 4) & c.where("not_dh", -1) & c.where("s4", 4))
    dotted = (at("dh", 4) & at("d", 5, 4) & at("dh", 9) & at("d", 10, 4) & at("dh", 14) & at("d", 15)
              & ~at("ad", 15, 8))
    g484 = at("d", 5, 8) & at("s4", 13) & at("d", 14, 4) & at("not_d", 18)
    return at.select(dotted | g484)


def _ssn_more(c: Classes) -> np.ndarray:
    # \d(?<![\w#]\d)\d{2}([ .]?)\d{2}\1\d{4}(?![\w-])
    at = c.at(c.where("d", 0, 3) & c.where("not_wh", -1))
    bare = at("d", 3, 6) & at("not_wd", 9)
    spaced = at("sp", 3) & at("d", 4, 2) & at("sp", 6) & at("d", 7, 4) & at("not_wd", 11)
    return at.select(bare | spaced)


def _iban(c: Classes) -> np.ndarray:
    # [A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z]\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?(?![A-Za-z0-9])
    return np.flatnonzero(c.where("alpha") & c.where("not_an", -1) & c.where("alpha", 1) & c.where("d", 2, 2)
                          & (c.where("an", 4) | (c.where("space", 4) & c.where("an", 5))))


_MASKS = {"iban": _iban, "card": _card, "ssn": _ssn, "phone": _phone, "card_more": _card_more, "ssn_more": _ssn_more}


def starts(rule: str, classes: Classes) -> np.ndarray:
    """Every position where ``rule`` (``iban``, ``card``, ``ssn``, ``phone``, ``card_more``, ``ssn_more``) may match, sorted.

    A superset: each position where the rule's regex matches the text is in it.
    """
    return _MASKS[rule](classes)


def matches(rule: str, classes: Classes) -> tuple[np.ndarray, np.ndarray] | None:
    """Every match of ``rule`` (``card``, ``card_more``, ``ssn_more``; else ``None``) at every position: its starts and ends.

    Not what ``sub`` replaces (a match may start inside another: :func:`streams.redact_batch.leftmost`
    picks those), but each one exactly: these rules have a fixed shape, told by runs of digits and
    the separators between them. ``None`` where the classes are not certain (``classes.exact``).

    >>> starts, ends = matches("card", Classes("4111 1111 1111 1111 4111"))
    >>> starts.tolist(), ends.tolist()
    ([0, 5], [19, 24])
    """
    read = _EXACT.get(rule)
    return None if read is None or not classes.exact else read(classes)


def _card_exact(c: Classes) -> tuple[np.ndarray, np.ndarray]:
    # \d(?<![\d#]\d)(?:\d{12,18}|\d{3}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{3}([ -])\d{6}\2\d{5})(?!\d)
    p = np.flatnonzero(c.where("d", 0, 4) & c.where("not_dh", -1))
    q, run, code = p + _PAD, c.runs("d"), c.codes
    r = run[q]
    ends = np.where((r >= 13) & (r <= 19), p + r, -1)  # one run of 13 to 19 digits
    sep = code[q + 4]
    grouped = (r == 4) & ((sep == 32) | (sep == 45))
    tail = run[q + 15]
    g444 = (grouped & (run[q + 5] >= 4) & (code[q + 9] == sep) & (run[q + 10] >= 4) & (code[q + 14] == sep)
            & (tail >= 1) & (tail <= 7))
    g465 = grouped & (run[q + 5] >= 6) & (code[q + 11] == sep) & (run[q + 12] == 5)
    ends = np.where(g444, p + 15 + tail, np.where(g465, p + 17, ends))
    return p[ends >= 0], ends[ends >= 0]


def _card_more_exact(c: Classes) -> tuple[np.ndarray, np.ndarray]:
    # \d(?<![\d#]\d)(?:\d{3}([.#])\d{4}\1\d{4}\1\d{1,7}|\d{3}([ .#-])\d{8}\2\d{4})(?!\d)
    p = np.flatnonzero(c.where("d", 0, 4) & c.where("not_dh", -1) & c.where("s4", 4))
    q, run, code = p + _PAD, c.runs("d"), c.codes
    sep = code[q + 4]
    tail = run[q + 15]
    dotted = (((sep == 46) | (sep == 35)) & (run[q + 5] >= 4) & (code[q + 9] == sep) & (run[q + 10] >= 4)
              & (code[q + 14] == sep) & (tail >= 1) & (tail <= 7))
    g484 = (run[q + 5] >= 8) & (code[q + 13] == sep) & (run[q + 14] == 4)
    ends = np.where(dotted, p + 15 + tail, np.where(g484, p + 18, -1))
    return p[ends >= 0], ends[ends >= 0]


def _ssn_more_exact(c: Classes) -> tuple[np.ndarray, np.ndarray]:
    # \d(?<![\w#]\d)\d{2}([ .]?)\d{2}\1\d{4}(?![\w-])
    p = np.flatnonzero(c.where("d", 0, 3) & c.where("not_wh", -1))
    q, run, code, after = p + _PAD, c.runs("d"), c.codes, c.padded("not_wd")
    sep = code[q + 3]
    spaced = (((sep == 32) | (sep == 46)) & (run[q + 4] >= 2) & (code[q + 6] == sep) & (run[q + 7] >= 4)
              & after[q + 11])
    bare = (run[q] >= 9) & after[q + 9]
    ends = np.where(spaced, p + 11, np.where(bare, p + 9, -1))
    return p[ends >= 0], ends[ends >= 0]


_EXACT = {"card": _card_exact, "card_more": _card_more_exact, "ssn_more": _ssn_more_exact}
