"""Reading answers for the monitors: an answer's category, and whether two answers agree.

Answers are a label string for classification or a JSON object for
extraction. Agreement compares them the way a person would: labels ignoring
case and surrounding spaces, objects by value (key order and the same
normalisation of string values do not matter).

>>> category_of(" Groceries\\n"), category_of({"label": "fuel"}), category_of({"amount": 3})
('groceries', 'fuel', None)
>>> answers_agree("Fuel", "fuel "), answers_agree({"a": "X", "b": 1}, {"b": 1, "a": "x"}), answers_agree("fuel", "gas")
(True, True, False)
"""

from __future__ import annotations

from typing import Any

_CATEGORY_KEYS = ("label", "category")


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def category_of(answer: str | dict[str, Any] | None) -> str | None:
    """The category an answer names: the normalised label, or a ``label``/``category`` key; else None."""
    if isinstance(answer, str):
        label = _norm(answer)
        return label or None
    if isinstance(answer, dict):
        for key in _CATEGORY_KEYS:
            value = answer.get(key)
            if isinstance(value, str) and value.strip():
                return str(_norm(value))
    return None


def answers_agree(a: str | dict[str, Any], b: str | dict[str, Any]) -> bool:
    """Whether two answers are the same once case and surrounding spaces are ignored."""
    return bool(_norm(a) == _norm(b))
