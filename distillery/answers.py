"""Answers, one way: how they are written down, read back, and when two are the same.

An answer is a label (a string) for a classification or text task, or a JSON
object for an extraction. Every part of the system that stores, trains on,
serves or compares answers goes through these functions, so the gate's
accuracy, the monitors' agreement and drift, and the report's checks always
agree on the same pair of answers.

**Written down** (:func:`encode`): a label verbatim; an object as compact JSON
with its keys sorted and non-ASCII characters kept as they are (readable, and
the text the student is trained to write). Unpaired surrogates, which JSON can
carry but UTF-8 cannot, are kept as ``\\udxxx`` escapes so the text always fits
a UTF-8 store. Text written by earlier versions (``ensure_ascii`` escapes,
unsorted keys, spaces after separators) still reads back to the same answer.

**Read back** (:func:`decode`): text that holds a JSON object is that object;
anything else is a label.

**The same answer** (:func:`same_answer`): labels match ignoring case and
surrounding whitespace (``"Groceries"`` is ``"groceries "``); objects match
field by field, each string value compared the same way and lists whole and in
order; an object matches its JSON text. Why this rule: a person reading two
answers would call ``Groceries`` and ``groceries`` the same, and the monitors
and the report already did, while the gate counted them as a miss, so accuracy
and agreement disagreed on one pair. Nothing looser is applied here: the
teacher's free text is already mapped onto the task's label set (forgivingly,
``streams.teacher.labels.normalise_label``) before it is stored, so stored labels are
canonical, and for a text task or an extraction's field values, hyphens,
underscores and punctuation carry meaning.

>>> encode({"b": "é", "a": 1}), encode("Fuel"), encode(None)
('{"a":1,"b":"é"}', 'Fuel', None)
>>> decode('{"a": 1}'), decode("fuel"), decode("{not json")
({'a': 1}, 'fuel', '{not json')
>>> same_answer("Groceries", "groceries "), same_answer("fuel", "gas"), same_answer(None, "fuel")
(True, False, False)
>>> same_answer({"a": "X", "b": 1}, '{"b": 1, "a": "x"}'), same_answer({"t": ["a", "b"]}, {"t": ["b", "a"]})
(True, False)
>>> category_of(" Groceries\\n"), category_of({"label": "Fuel"}), category_of({"amount": 3})
('groceries', 'fuel', None)
"""

from __future__ import annotations

import json
from typing import Any, overload

from distillery.text import utf8_safe

Answer = str | dict[str, Any]
"""A label, or an extraction's JSON object."""

_CATEGORY_KEYS = ("label", "category")


@overload
def encode(answer: None) -> None: ...
@overload
def encode(answer: Answer | list[Any]) -> str: ...
def encode(answer: Answer | list[Any] | None) -> str | None:
    """An answer as stored text: a label verbatim, JSON compact with sorted keys (``None`` stays ``None``).

    >>> encode({"payee": "Café", "amount": 3})
    '{"amount":3,"payee":"Café"}'
    >>> encode({"a": "x" + chr(0xD800)}) == '{"a":"x\\\\ud800"}'
    True
    >>> encode("groceries" + chr(0xD800)) == "groceries\\\\ud800"
    True
    """
    if answer is None:
        return None
    if isinstance(answer, str):
        return answer if answer.isascii() else utf8_safe(answer)
    return utf8_safe(json.dumps(answer, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


@overload
def decode(text: None) -> None: ...
@overload
def decode(text: str) -> Answer: ...
def decode(text: str | None) -> Answer | None:
    """Stored text back to the answer: a JSON object's text is the object, anything else a label.

    >>> decode('{"payee":"Caf\\\\u00e9"}') == decode('{"payee": "Café"}') == {"payee": "Café"}
    True
    >>> decode("[1, 2]"), decode(None)
    ('[1, 2]', None)
    """
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict):
            return value
    return text


def _value(value: Any) -> Any:
    """A value in its compared form: strings trimmed and case-folded, inside objects and lists too."""
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """An object's fields in compared form: ``{"a": {"b": " X"}}`` -> ``{"a.b": "x"}``; lists kept whole.

    >>> flatten({"amount": 3, "payee": {"name": "ACME "}, "tags": ["A", "b"]})
    {'amount': 3, 'payee.name': 'acme', 'tags': '["a", "b"]'}
    >>> flatten("not an object")
    {}
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if not prefix:
        return {}
    if isinstance(value, list):
        return {prefix: json.dumps(_value(value), sort_keys=True)}
    return {prefix: _value(value)}


def normalise(answer: Answer | list[Any]) -> Any:
    """An answer in the form :func:`same_answer` compares: a folded label, or an object's fields.

    >>> normalise("  Coffee Shops\\n"), normalise('{"Payee": {"Name": "ACME"}}')
    ('coffee shops', {'Payee.Name': 'acme'})
    """
    value = decode(answer) if isinstance(answer, str) else answer
    if isinstance(value, dict):
        return flatten(value)
    return _value(value)


def same_answer(a: Answer | list[Any] | None, b: Answer | list[Any] | None) -> bool:
    """Whether two answers (values or stored text) are the same; a missing answer matches nothing.

    >>> same_answer("Café", "CAFÉ"), same_answer({"a": "é"}, '{"a":"\\\\u00c9"}'), same_answer("x", {"x": 1})
    (True, True, False)
    """
    if a is None or b is None:
        return False
    return bool(normalise(a) == normalise(b))


def category_of(answer: Answer | None) -> str | None:
    """The category an answer names, in compared form: the label, or a ``label``/``category`` field; else None.

    Unlike ``streams.rows.category_of``, this needs no task: it names the
    category as the answer spells it (folded), for the monitors' drift counts.

    >>> category_of("  "), category_of('{"category": "Fuel"}'), category_of(None)
    (None, 'fuel', None)
    """
    value = decode(answer) if isinstance(answer, str) else answer
    if isinstance(value, str):
        return _value(value) or None
    if isinstance(value, dict):
        for key in _CATEGORY_KEYS:
            field = value.get(key)
            if isinstance(field, str) and field.strip():
                return str(_value(field))
    return None
