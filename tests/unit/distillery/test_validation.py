"""The inbound contract: every problem reported with its field path, nothing else accepted."""

from __future__ import annotations

import json

import pytest

from distillery.errors import InvalidInputError, UnknownTaskError
from distillery.validation import parse_inference, parse_inference_carefully, validate_inference

TASKS = {"transactions"}


def _raw(**fields: object) -> bytes:
    doc = {"event_id": "e-1", "task": "transactions", "input": "SQ *BLUE BOTTLE #12 OAKLAND"}
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def test_minimal_event_is_accepted_and_keyed_by_task() -> None:
    parsed = parse_inference(_raw(), tasks=TASKS)
    assert parsed.ok and parsed.event is not None
    assert parsed.event.key() == b"transactions"
    assert parsed.event.schema_version == 1


def test_full_event_with_chat_input_and_optional_fields() -> None:
    raw = _raw(
        input=[{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        ts="2026-03-01T10:00:00Z", output="coffee_shops", model="gpt-4.1", route="teacher",
        label="coffee_shops", confidence=0.8, usage={"prompt_tokens": 10, "completion_tokens": 2},
        metadata={"tenant": "a"}, future_field="ignored",
    )
    ev = validate_inference(raw, tasks=TASKS)
    assert ev.input_text() == "system: s\nuser: u"
    assert ev.ts_ms() == 1772359200000
    assert ev.usage is not None and ev.usage.prompt_tokens == 10


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"input": 3}, ["input: expected string or list of messages, got int"]),
        ({"input": ...}, ["input: required field is missing"]),
        ({"event_id": ..., "task": ...}, ["task: required field is missing", "event_id: required field is missing"]),
        ({"confidence": 1.5}, ["confidence: expected less than or equal to 1, got float 1.5"]),
        ({"ts": True}, ["ts: expected ISO-8601 string or epoch milliseconds, got bool"]),
        ({"route": "llama"}, ["route: expected 'student' or 'teacher', got string \"llama\""]),
        ({"input": [{"role": "user"}]}, ["input[0].content: required field is missing"]),
        ({"output": 4}, ["output: expected string or object, got int"]),
    ],
)
def test_every_problem_is_named_with_its_path(fields: dict[str, object], problems: list[str]) -> None:
    parsed = parse_inference(_raw(**fields), tasks=TASKS)
    assert not parsed.ok
    assert parsed.problems == problems


def test_unknown_task_names_the_declared_ones() -> None:
    with pytest.raises(UnknownTaskError, match="unknown task 'nope'; declared tasks: transactions"):
        validate_inference(_raw(task="nope"), tasks=TASKS)


@pytest.mark.parametrize("field", ["model", "output", "label", "metadata"])
def test_an_unpaired_surrogate_in_any_text_is_refused_naming_where(field: str) -> None:
    """JSON escapes one, ``json.loads`` keeps it, UTF-8 cannot write it: found by the long fuzz run (a student
    ``output`` of lone surrogates accepted, then refused by DuckDB: the batch redelivered for ever)."""
    bad = "x" + chr(0xD800)
    doc = {"schema_version": 1, "event_id": "e", "task": "transactions", "input": "SHELL",
           field: {"note": bad} if field == "metadata" else bad}
    raw = json.dumps(doc).encode()
    assert b'"x\\ud800"' in raw
    parsed = parse_inference(raw, tasks=TASKS)
    assert (parsed.ok, parsed.reason) == (False, "not_unicode")
    where = "metadata.note" if field == "metadata" else field
    assert parsed.problems == [f"{where}: holds an unpaired UTF-16 surrogate (a \\ud800-\\udfff escape without "
                               "its pair), which no store or topic can carry; send valid Unicode text"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (None, "empty"),
        (b"[" * 50 + b"]" * 50, "not_object"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "too_deep"),
        (b'{"schema_version": 2, "event_id": "e", "task": "transactions", "input": "x"}', "schema_version"),
    ],
)
def test_unreadable_values_are_refused_with_a_reason(raw: bytes | None, reason: str) -> None:
    parsed = parse_inference(raw, tasks=TASKS)
    assert (parsed.ok, parsed.reason) == (False, reason)
    assert parsed.problems and parsed.problems[0].startswith(("value:", "schema_version:"))


def test_size_limit_refuses_with_the_sizes() -> None:
    raw = _raw(input="x" * 2000)
    parsed = parse_inference(raw, tasks=TASKS, max_bytes=1024)
    assert parsed.reason == "too_large"
    assert parsed.problems == [f"value: {len(raw)} bytes is over the 1024-byte limit"]
    assert parse_inference(raw, tasks=TASKS, max_bytes=len(raw)).ok


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_inference(b"{}", tasks=TASKS)
    assert issubclass(InvalidInputError, ValueError)


def test_the_contract_error_does_not_shadow_pydantics_validation_error() -> None:
    """It was ``distillery.errors.ValidationError``, beside ``pydantic.ValidationError`` in the same modules."""
    import distillery.errors

    assert not hasattr(distillery.errors, "ValidationError")
    with pytest.raises(InvalidInputError, match="input"):
        validate_inference(b'{"event_id": "e", "task": "transactions", "ts": 1}', tasks=TASKS)


def test_an_integer_too_long_to_convert_is_refused_not_raised() -> None:
    # json.loads raises a plain ValueError here; it used to escape and stop the worker on every redelivery
    parsed = parse_inference(b'{"event_id": "e", "task": "transactions", "input": "x", "ts": ' + b"1" * 5000 + b"}",
                             tasks=TASKS)
    assert (parsed.ok, parsed.reason) == (False, "not_json")
    assert parsed.problems == ["value: not JSON (Exceeds the limit (4300 digits) for integer string conversion: "
                               "value has 5000 digits)"]


# Values on which the one-call fast path must answer exactly as the careful path does.
TRICKY = [
    b'{"event_id": "a", "event_id": "b", "task": "transactions", "input": "x"}',  # duplicate key: last wins
    b'{"event_id": "a", "task": "transactions", "input": "x\\ud800"}',  # lone surrogate escape
    b'{"event_id": "a", "task": "transactions", "input": "\\ud83d\\ude00"}',  # surrogate pair
    b'\xef\xbb\xbf{"event_id": "a", "task": "transactions", "input": "x"}',  # UTF-8 byte-order mark
    b'{"event_id": "a", "task": "transactions", "input": "x\ty"}',  # raw control character
    b'{"event_id": "a", "task": "transactions", "input": "x", "confidence": NaN}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "confidence": 1e400}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "confidence": "0.5"}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "confidence": -0.0}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "schema_version": true}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "schema_version": 1.0}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "schema_version": "1"}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "ts": 1.0}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "ts": 100000000000000}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "ts": "2026-01-01"}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "usage": {"prompt_tokens": 2.0}}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "usage": {"prompt_tokens": 2.5}}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "metadata": {"n": 123456789012345678901234567890}}',
    b'{"event_id": "a", "task": "transactions", "input": "x"} trailing',
    b' {"event_id": "a", "task": "transactions", "input": "x"} ',
    b'{"event_id": "a", "task": "transactions", "input": [{"role": "user", "content": "u", "x": 1}]}',
    b'{"event_id": "a", "task": "transactions", "input": []}',
    b'{"event_id": "", "task": "transactions", "input": "x"}',
    b'{"event_id": "a", "task": "elsewhere", "input": "x"}',
    b'{"event_id": "a", "task": "transactions", "input": "x", "metadata": ' + b'{"a": ' * 20 + b"1" + b"}" * 20 + b"}",
    b'{"event_id": "a", "task": "transactions", "input": "x", "metadata": ' + b'{"a": ' * 33 + b"1" + b"}" * 33 + b"}",
    b'{"event_id": "a", "task": "transactions", "input": "' + b"x" * 500 + b'"}',
]


@pytest.mark.parametrize("raw", TRICKY)
def test_fast_path_answers_as_the_careful_path(raw: bytes) -> None:
    fast = parse_inference(raw, tasks=TASKS, max_bytes=400)
    careful = parse_inference_carefully(raw, tasks=TASKS, max_bytes=400)
    assert (fast.event, fast.reason, fast.problems) == (careful.event, careful.reason, careful.problems)


def test_fast_path_cases_cover_both_answers() -> None:
    # the corpus above must hold accepted and refused values, or the comparison proves little
    reasons = {parse_inference_carefully(raw, tasks=TASKS, max_bytes=400).reason for raw in TRICKY}
    assert reasons == {"", "not_json", "invalid", "unknown_task", "too_deep", "too_large", "schema_version",
                       "not_unicode"}
