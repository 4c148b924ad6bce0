"""Text every store and topic can carry: the one rule for lone surrogates.

JSON can carry an unpaired UTF-16 surrogate (``"\\ud800"``) that UTF-8 cannot
encode: DuckDB refuses the row and a Kafka producer the record. Wherever such
text is kept as it came (a dead letter's problems and event id, an answer, a
pending event that is dead-lettered), the surrogate is written as the six
characters ``\\udxxx`` instead, so nothing is lost and everything encodes.

>>> utf8_safe("x" + chr(0xD800) + "y") == "x\\\\ud800y"
True
>>> utf8_safe("Café"), utf8_safe("Café").encode("utf-8")
('Café', b'Caf\\xc3\\xa9')
"""

from __future__ import annotations


def utf8_safe(text: str) -> str:
    """``text`` with every lone surrogate written as a ``\\udxxx`` escape; anything else unchanged."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
