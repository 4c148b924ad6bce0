"""Teacher-answer filters, label normalisation and logprob confidence."""

from __future__ import annotations

import math

import pytest

from distillery.errors import ConfigError
from distillery.taskspec import TaskSpec, TeacherSpec
from streams.teacher.confidence import TokenChoice, label_confidence, sequence_confidence
from streams.teacher.filters import Status, is_refusal, judge
from streams.teacher.labels import LabelSet, normalise_label

LABELS = ["coffee_shops", "restaurants", "fast_food", "fuel", "ev_charging"]
CLS = TaskSpec(name="t", kind="classification", labels=LABELS, teacher=TeacherSpec(min_confidence=0.6))
SCHEMA = {
    "type": "object",
    "properties": {"merchant": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
    "required": ["merchant", "amount"],
    "additionalProperties": False,
}
EXT = TaskSpec(name="x", kind="extraction", output_schema=SCHEMA, teacher=TeacherSpec(min_confidence=0.5))


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("coffee_shops", "coffee_shops"),
        ("  Coffee Shops\n", "coffee_shops"),
        ('"fast-food".', "fast_food"),
        ("`EV_CHARGING`", "ev_charging"),
        ("\u201crestaurants\u201d", "restaurants"),
        ('{"label": "Fuel"}', "fuel"),
        ('{"category": "fast food"}', "fast_food"),
    ],
)
def test_classification_answers_accepted_after_normalising(answer: str, label: str) -> None:
    v = judge(CLS, answer, 0.9)
    assert (v.status, v.label, v.reason) == (Status.ACCEPTED, label, "ok")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("coffee", "label_outside_set"),
        ("tea_houses", "label_outside_set"),
        ("Category: fuel", "label_outside_set"),
        ('{"label": "tea"}', "label_outside_set"),
        ("I'm sorry, but I can't help with that.", "refusal"),
        ("As an AI language model I cannot classify bank data", "refusal"),
        ("I cannot determine the category.", "refusal"),
        ("   ", "empty"),
    ],
)
def test_classification_answers_rejected(answer: str, reason: str) -> None:
    v = judge(CLS, answer, 0.99)
    assert (v.status, v.label, v.reason) == (Status.REJECTED, None, reason)


def test_low_confidence_goes_to_review_and_unknown_confidence_is_accepted() -> None:
    low = judge(CLS, "fuel", 0.59)
    assert (low.status, low.label, low.describe()) == (
        Status.REVIEW, "fuel", "low_confidence: 0.590 < min_confidence 0.60")
    assert judge(CLS, "fuel", 0.6).status is Status.ACCEPTED
    assert judge(CLS, "fuel", None).status is Status.ACCEPTED


def test_a_stream_of_answers_keeps_exactly_the_good_ones() -> None:
    answers = [("fuel", 0.95), ("Fuel", 0.3), ("gasoline", 0.99), ("I'm sorry, I can't", None),
               ("restaurants", None), ('"coffee_shops"', 0.61)]
    verdicts = [judge(CLS, a, c) for a, c in answers]
    assert [v.status.value for v in verdicts] == ["accepted", "review", "rejected", "rejected", "accepted",
                                                 "accepted"]
    assert [v.label for v in verdicts if v.accepted] == ["fuel", "restaurants", "coffee_shops"]


def test_extraction_answers() -> None:
    ok = judge(EXT, '```json\n{"merchant": "SHELL", "amount": 45.1}\n```', 0.8)
    assert (ok.status, ok.label) == (Status.ACCEPTED, {"merchant": "SHELL", "amount": 45.1})
    bad_json = judge(EXT, '{"merchant": "SHELL", "amount": ', 0.9)
    assert (bad_json.status, bad_json.reason) == (Status.REJECTED, "malformed_json")
    assert bad_json.detail == "Expecting value at char 31"
    not_object = judge(EXT, "[1, 2]")
    assert (not_object.reason, not_object.detail) == ("malformed_json", "expected a JSON object, got list")
    schema = judge(EXT, '{"merchant": "SHELL", "amount": -3}')
    assert (schema.reason, schema.detail) == ("schema", "amount: -3 is less than the minimum of 0")
    missing = judge(EXT, '{"merchant": "SHELL"}')
    assert missing.describe() == "schema: (root): 'amount' is a required property"
    refusal = judge(EXT, "I'm sorry, I can't extract that.")
    assert refusal.reason == "refusal"
    review = judge(EXT, '{"merchant": "SHELL", "amount": 1}', 0.4)
    assert review.status is Status.REVIEW


def test_invalid_output_schema_is_a_config_error() -> None:
    spec = TaskSpec(name="x", kind="extraction", output_schema={"type": "nonsense"})
    with pytest.raises(ConfigError, match="output_schema"):
        judge(spec, "{}")


def test_text_tasks_accept_any_non_empty_answer() -> None:
    spec = TaskSpec(name="s", kind="text")
    assert judge(spec, " A summary. ").label == "A summary."
    assert judge(spec, "").reason == "empty"


def test_refusal_heuristics() -> None:
    yes = ["I can\u2019t do that", "Sorry, but I won't", "I apologize, this is unclear", "unable to assist"]
    no = ["restaurants", "fast_food", "CANTINA LAREDO", "I HOP"]
    assert [is_refusal(t) for t in yes] == [True] * 4
    assert [is_refusal(t) for t in no] == [False] * 4


def test_label_set() -> None:
    labels = LabelSet(LABELS)
    assert normalise_label(" 'Fast - Food' ") == "fast_food"
    assert labels.match("FAST FOOD") == "fast_food"
    assert labels.candidates("f") == ["fast_food", "fuel"]
    assert labels.candidates("fa") == ["fast_food"]


def lp(p: float) -> float:
    return math.log(p)


def test_label_confidence_sums_alternatives_consistent_with_the_label() -> None:
    labels = LabelSet(LABELS)
    tokens = [
        TokenChoice("fast", lp(0.6), (("fast", lp(0.6)), ("Fast", lp(0.15)), ("rest", lp(0.2)), ("fuel", lp(0.05)))),
        TokenChoice("_food", lp(0.9), (("_food", lp(0.9)),)),  # after "fast" the label is determined
    ]
    assert label_confidence(tokens, labels, "fast_food") == pytest.approx(0.75)


def test_label_confidence_chains_until_the_label_is_determined() -> None:
    labels = LabelSet(LABELS)
    tokens = [
        TokenChoice('"', lp(0.99)),  # formatting: skipped
        TokenChoice("f", lp(0.8), (("f", lp(0.8)), ("rest", lp(0.2)))),  # fast_food or fuel: not yet determined
        TokenChoice("uel", lp(0.7), (("uel", lp(0.7)), ("ast", lp(0.3)))),
        TokenChoice('"', lp(0.5)),
    ]
    assert label_confidence(tokens, labels, "fuel") == pytest.approx(0.8 * 0.7)


def test_label_confidence_without_top_logprobs_uses_the_token_itself() -> None:
    labels = LabelSet(LABELS)
    assert label_confidence([TokenChoice("fuel", lp(0.42))], labels, "fuel") == pytest.approx(0.42)
    assert label_confidence([TokenChoice("Category", lp(0.9))], labels, "fuel") is None
    assert label_confidence([], labels, "fuel") is None


def test_sequence_confidence_is_the_geometric_mean() -> None:
    toks = [TokenChoice("{", lp(0.9)), TokenChoice("a", lp(0.4)), TokenChoice("}", lp(1.0))]
    assert sequence_confidence(toks) == pytest.approx((0.9 * 0.4) ** (1 / 3))
    assert sequence_confidence([]) is None
