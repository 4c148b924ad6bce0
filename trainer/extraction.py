"""Extraction metrics (pure): field-level F1 and exact match of JSON answers.

A JSON answer is flattened into ``path -> value`` fields (nested objects give
dotted paths; lists are compared whole). A field counts as found when the
prediction has the same path with the same value, strings compared after
trimming and case-folding. A prediction that is not valid JSON has no fields.

>>> field_f1({"a": 1, "b": {"c": "X "}}, {"a": 1, "b": {"c": "x"}, "d": 2})
0.8
>>> exact_match('{"a": 1}', {"a": 1}), exact_match({"a": 2}, {"a": 1})
(True, False)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def parse_answer(answer: Any) -> Any:
    """A JSON answer as Python: objects pass through, text is parsed (``None`` when invalid)."""
    if isinstance(answer, str):
        try:
            return json.loads(answer)
        except ValueError:
            return None
    return answer


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; strings normalised, lists kept whole."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if not prefix:
        return {}
    return {prefix: _norm(value)}


def field_f1(prediction: Any, gold: Any) -> float:
    """F1 of matching fields between one prediction and its gold answer (1.0 when both are empty)."""
    pred = flatten(parse_answer(prediction))
    true = flatten(parse_answer(gold))
    if not pred and not true:
        return 1.0
    found = sum(1 for k, v in pred.items() if k in true and true[k] == v)
    if found == 0:
        return 0.0
    precision, recall = found / len(pred), found / len(true)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: Any, gold: Any) -> bool:
    """Every field matches and none is extra."""
    pred, true = parse_answer(prediction), parse_answer(gold)
    return pred is not None and true is not None and flatten(pred) == flatten(true)


def mean_field_f1(predictions: Sequence[Any], golds: Sequence[Any]) -> float:
    """Average per-example field F1 over a gold set (0.0 for an empty one)."""
    if len(predictions) != len(golds):
        raise ValueError(
            f"predictions: {len(predictions)} answers for {len(golds)} gold answers; one per answer"
        )
    return sum(field_f1(p, g) for p, g in zip(predictions, golds, strict=True)) / len(golds) if golds else 0.0


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, list):
        return json.dumps([_norm(v) for v in value], sort_keys=True)
    return value
