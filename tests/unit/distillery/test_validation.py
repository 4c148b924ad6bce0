"""The inbound contract: every problem reported with its field path, nothing else accepted."""

from __future__ import annotations

import json

import pytest

from distillery.errors import UnknownTaskError, ValidationError
from distillery.validation import parse_inference, validate_inference

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
    assert issubclass(ValidationError, ValueError)
