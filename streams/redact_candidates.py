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
}


class Classes:
    """The character classes of one text, each a padded boolean array, made on first use."""

    def __init__(self, text: str) -> None:
        self.n = len(text)
        pad = b"\0" * _PAD
        self._bytes = pad + text.encode("ascii", "replace") + pad  # one byte a character: '?' outside ASCII
        self._arrays: dict[str, np.ndarray] = {}

    def padded(self, name: str) -> np.ndarray:
        """Class ``name`` over the padded text (position ``p`` of the text at ``p + _PAD``)."""
        arr = self._arrays.get(name)
        if arr is None:
            arr = self._arrays[name] = np.frombuffer(self._bytes.translate(_TABLES[name]), dtype=np.bool_)
        return arr

    def at(self, name: str, offset: int, length: int = 1) -> np.ndarray:
        """For each position ``p`` of the text: whether ``p + offset`` .. ``p + offset + length - 1`` may all be ``name``."""
        arr = self.padded(name)
        start = _PAD + offset
        out = arr[start:start + self.n]
        for k in range(1, length):
            out = out & arr[start + k:start + k + self.n]
        return out


def _card(c: Classes) -> np.ndarray:
    # \d(?<![\d#]\d)(?:\d{12,18}|\d{3}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{3}([ -])\d{6}\2\d{5})(?!\d)
    head = c.at("d", 0, 4) & c.at("not_dh", -1)
    run = c.at("d", 4, 9) & ~c.at("ad", 13, 7)  # 13 to 19 digits: 20 ASCII ones are too many
    g444 = (c.at("sd", 4) & c.at("d", 5, 4) & c.at("sd", 9) & c.at("d", 10, 4) & c.at("sd", 14) & c.at("d", 15)
            & ~c.at("ad", 15, 8))
    g465 = c.at("sd", 4) & c.at("d", 5, 6) & c.at("sd", 11) & c.at("d", 12, 5) & c.at("not_d", 17)
    return head & (run | g444 | g465)


def _ssn(c: Classes) -> np.ndarray:
    # \d(?<![\d#]\d)\d{2}-\d{2}-\d{4}(?![\d-])
    return (c.at("d", 0, 3) & c.at("not_dh", -1) & c.at("dash", 3) & c.at("d", 4, 2) & c.at("dash", 6)
            & c.at("d", 7, 4) & c.at("not_dd", 11))


def _nanp_tail(c: Classes, k: int) -> np.ndarray:
    r"""``\d{3}[ .-]\d{4}(?![\w-])`` from ``p + k``."""
    return c.at("d", k, 3) & c.at("s3", k + 3) & c.at("d", k + 4, 4) & c.at("not_wd", k + 8)


def _phone(c: Classes) -> np.ndarray:
    # [+(\d](?<![\w#][+(\d])(?:intl|(-branch|1 -branch|\d{3}-\d{3}-\d{4}|1\d{10}|\d{10})(?![\w-])
    paren = c.at("lp", 0) & c.at("d", 1, 3) & c.at("rp", 4) & ((c.at("s3", 5) & _nanp_tail(c, 6)) | _nanp_tail(c, 5))
    one_sep = c.at("one", 0) & c.at("s3", 1) & (
        (c.at("lp", 2) & c.at("d", 3, 3) & c.at("rp", 6) & ((c.at("s3", 7) & _nanp_tail(c, 8)) | _nanp_tail(c, 7)))
        | (c.at("d", 2, 3) & c.at("s3", 5) & _nanp_tail(c, 6)))
    dashed = c.at("d", 0, 3) & c.at("s3", 3) & _nanp_tail(c, 4)
    bare = (c.at("one", 0) & c.at("d", 1, 10) & c.at("not_wd", 11)) | (c.at("d", 0, 10) & c.at("not_wd", 10))
    after = c.at("not_wh", -1)
    mask = (paren | one_sep | dashed | bare) & after
    plus = np.flatnonzero(c.at("plus", 0) & c.at("d", 1) & after)
    if plus.size:
        mask[_international(c, plus)] = True
    return mask


def _international(c: Classes, plus: np.ndarray) -> np.ndarray:
    r"""Those of the ``+`` positions ``plus`` where an international number may start.

    ``\+(?=\d{1,23}(?!\d))\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}(?![\w-])``:
    at most 23 digits right after the ``+``, then at most 35 characters of ``[\d .()-]``
    holding at least six digits, the last of them a digit that no word character or ``-``
    follows.
    """
    q = plus + _PAD  # in padded coordinates
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
    head = c.at("d", 0, 4) & c.at("not_dh", -1)
    dotted = (c.at("dh", 4) & c.at("d", 5, 4) & c.at("dh", 9) & c.at("d", 10, 4) & c.at("dh", 14) & c.at("d", 15)
              & ~c.at("ad", 15, 8))
    g484 = c.at("s4", 4) & c.at("d", 5, 8) & c.at("s4", 13) & c.at("d", 14, 4) & c.at("not_d", 18)
    return head & (dotted | g484)


def _ssn_more(c: Classes) -> np.ndarray:
    # \d(?<![\w#]\d)\d{2}([ .]?)\d{2}\1\d{4}(?![\w-])
    bare = c.at("d", 3, 6) & c.at("not_wd", 9)
    spaced = c.at("sp", 3) & c.at("d", 4, 2) & c.at("sp", 6) & c.at("d", 7, 4) & c.at("not_wd", 11)
    return c.at("d", 0, 3) & c.at("not_wh", -1) & (bare | spaced)


_MASKS = {"card": _card, "ssn": _ssn, "phone": _phone, "card_more": _card_more, "ssn_more": _ssn_more}


def starts(rule: str, classes: Classes) -> np.ndarray:
    """Every position where ``rule`` (``card``, ``ssn``, ``phone``, ``card_more``, ``ssn_more``) may match, sorted.

    A superset: each position where the rule's regex matches the text is in it.
    """
    return np.flatnonzero(_MASKS[rule](classes))
