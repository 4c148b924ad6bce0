"""Extraction metrics: field-level F1 and exact match of JSON answers."""

from __future__ import annotations

import pytest

from distillery.answers import flatten
from trainer.extraction import exact_match, field_f1, mean_field_f1

GOLD = {"amount": 12.5, "payee": {"name": "ACME Corp", "country": "US"}, "tags": ["a", "b"]}


def test_flatten_gives_dotted_paths_and_normalised_values() -> None:
    assert flatten(GOLD) == {
        "amount": 12.5,
        "payee.name": "acme corp",
        "payee.country": "us",
        "tags": '["a", "b"]',
    }


@pytest.mark.parametrize(
    ("prediction", "f1", "exact"),
    [
        (GOLD, 1.0, True),
        ('{"payee": {"country": "us ", "name": "acme corp"}, "tags": ["A", "b"], "amount": 12.5}', 1.0, True),
        ({"amount": 12.5, "payee": {"name": "ACME Corp"}}, 2 * (1.0 * 0.5) / 1.5, False),  # P=1, R=2/4
        ({"amount": 12.5, "extra": 1}, 2 * (0.5 * 0.25) / 0.75, False),  # P=1/2, R=1/4
        ({"tags": ["b", "a"]}, 0.0, False),  # lists compare whole, in order
        ("not json", 0.0, False),
    ],
)
def test_field_f1_and_exact_match(prediction: object, f1: float, exact: bool) -> None:
    assert field_f1(prediction, GOLD) == pytest.approx(f1)
    assert exact_match(prediction, GOLD) is exact


def test_empty_answers_agree_and_means_average() -> None:
    assert field_f1({}, {}) == 1.0 and exact_match({}, {})
    assert mean_field_f1([GOLD, "x"], [GOLD, GOLD]) == 0.5
    assert mean_field_f1([], []) == 0.0
    with pytest.raises(ValueError, match="1 answers for 2 gold answers"):
        mean_field_f1([GOLD], [GOLD, GOLD])
