"""Character-class mix of inputs: the share of digits, uppercase letters and punctuation.

Each class is its own signal (``digit_share``, ``upper_share``,
``punct_share``) so a drift event says *which* class moved: a new upstream
formatter that lower-cases merchant strings moves ``upper_share`` only, a new
id scheme moves ``digit_share``. Each share is a value in [0, 1] per input,
fed to ADWIN: it needs no assumed change size, adapts its window, and its
variance-aware bound holds on bounded values like these, so stationary noise
rarely fires it. ``char_class_shares`` computes all three in one pass, so a
monitor pays for the text scan once.

>>> import random
>>> rng = random.Random(3)
>>> def line(n_digits):
...     return "STORE " + "".join(rng.choice("0123456789") for _ in range(n_digits)) + " CITY"
>>> texts = [line(rng.randint(2, 6)) for _ in range(3000)] + [line(rng.randint(6, 10)) for _ in range(1000)]
>>> signal = CharClassShare("digit")
>>> [i for i, text in enumerate(texts) if signal.update(char_class_shares(text)[0])]
[3103]
>>> round(signal.last_change.before, 2), round(signal.last_change.after, 2)
(0.26, 0.42)
"""

from __future__ import annotations

import string
import unicodedata
from typing import ClassVar, Literal

from distillery.errors import ConfigError
from monitors.severity import SeverityScale
from monitors.signals.base import AdwinSignal

CharClass = Literal["digit", "upper", "punct"]
CHAR_CLASSES: tuple[CharClass, ...] = ("digit", "upper", "punct")
"""The classes, in the order :func:`char_class_shares` returns their shares."""

_DIGITS = string.digits.encode()
_UPPER = string.ascii_uppercase.encode()
_PUNCT = string.punctuation.encode()


def char_class_shares(text: str) -> tuple[float, float, float]:
    """Shares of digits, uppercase letters and punctuation (incl. symbols) among all characters.

    >>> char_class_shares("SQ *CAFE 12")
    (0.18181818181818182, 0.5454545454545454, 0.09090909090909091)
    """
    n = len(text)
    if n == 0:
        return (0.0, 0.0, 0.0)
    if text.isascii():
        # bytes.translate deletes a class in C: far cheaper than a Python loop per character
        raw = text.encode("ascii")
        return (
            (n - len(raw.translate(None, _DIGITS))) / n,
            (n - len(raw.translate(None, _UPPER))) / n,
            (n - len(raw.translate(None, _PUNCT))) / n,
        )
    digits = sum(c.isdigit() for c in text)
    upper = sum(c.isupper() for c in text)
    punct = sum(c in string.punctuation or unicodedata.category(c)[0] in "PS" for c in text)
    return (digits / n, upper / n, punct / n)


class CharClassShare(AdwinSignal):
    """Share of one character class; a 3-point move is a warning, 10 points critical."""

    scale: ClassVar[SeverityScale] = SeverityScale(warning=0.03, critical=0.10)

    def __init__(self, char_class: CharClass, *, delta: float = 1e-4, clock: int = 32) -> None:
        if char_class not in CHAR_CLASSES:
            raise ConfigError(
                f"char_class must be one of {', '.join(CHAR_CLASSES)}, got {char_class!r}; pick one of those"
            )
        self.char_class = char_class
        super().__init__(f"{char_class}_share", delta=delta, clock=clock)
