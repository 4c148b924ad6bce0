"""Extraction metrics (pure): field-level F1 and exact match of JSON answers.

A JSON answer is flattened into ``path -> value`` fields by
:func:`distillery.answers.flatten` (nested objects give dotted paths; lists
are compared whole). A field counts as found when the prediction has the same
path with the same value, compared as :func:`distillery.answers.same_answer`
does (strings trimmed and case-folded). A prediction that is not a JSON object
has no fields.

>>> field_f1({"a": 1, "b": {"c": "X "}}, {"a": 1, "b": {"c": "x"}, "d": 2})
0.8
>>> exact_match('{"a": 1}', {"a": 1}), exact_match({"a": 2}, {"a": 1})
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from distillery.answers import decode, flatten, same_answer


def _object(answer: Any) -> dict[str, Any] | None:
    """A JSON answer as an object (stored text is read back), ``None`` when it is not one."""
    value = decode(answer) if isinstance(answer, str) else answer
    return value if isinstance(value, dict) else None


def field_f1(prediction: Any, gold: Any) -> float:
    """F1 of matching fields between one prediction and its gold answer (1.0 when both are empty)."""
    pred = flatten(_object(prediction))
    true = flatten(_object(gold))
    if not pred and not true:
        return 1.0
    found = sum(1 for k, v in pred.items() if k in true and true[k] == v)
    if found == 0:
        return 0.0
    precision, recall = found / len(pred), found / len(true)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: Any, gold: Any) -> bool:
    """Both are objects and :func:`distillery.answers.same_answer`: every field matches and none is extra."""
    pred, true = _object(prediction), _object(gold)
    return pred is not None and true is not None and same_answer(pred, true)


def mean_field_f1(predictions: Sequence[Any], golds: Sequence[Any]) -> float:
    """Average per-example field F1 over a gold set (0.0 for an empty one)."""
    if len(predictions) != len(golds):
        raise ValueError(
            f"predictions: {len(predictions)} answers for {len(golds)} gold answers; one per answer"
        )
    return sum(field_f1(p, g) for p, g in zip(predictions, golds, strict=True)) / len(golds) if golds else 0.0
