"""A dead letter always fits in one produce request (issue #13).

It used to carry the whole original base64-encoded (4/3 of its size): an invalid
message over ~0.78 MiB made a letter larger than a default broker takes (and over
~6 MiB larger than the worker's own producer allows), publishing it raised, and
the worker crash-looped on that message. Past ``DEADLETTER_ORIGINAL_MAX_BYTES``
the letter keeps the first bytes, the full size and SHA-256, and says so.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from distillery.events import DEADLETTER_ORIGINAL_MAX_BYTES, DeadLetter, InferenceEvent
from streams.ingest import triage
from streams.source import Source

DEFAULT_BROKER_MAX = 1_048_588  # message.max.bytes of a broker with default settings
TASKS = {"transactions"}
SRC = Source("inference.events", 3, 77)


def _letter(value: bytes | None, key: bytes | None = b"transactions", max_bytes: int = 64 << 20) -> DeadLetter:
    out = triage(value, key, SRC, tasks=TASKS, max_bytes=max_bytes)
    assert isinstance(out, DeadLetter)
    return out


@pytest.mark.parametrize("value", [
    b"\xff" * (6 << 20),  # not UTF-8, 6 MiB
    b"{" * (1 << 20),  # not JSON, 1 MiB
    json.dumps({"event_id": "e", "task": "transactions", "input": 3, "pad": "x" * (900 << 10)}).encode(),  # invalid
    json.dumps({"event_id": "e", "task": "transactions", "input": "x" * (2 << 20)}).encode(),  # over the size limit
])
def test_a_large_original_is_truncated_with_its_size_and_hash(value: bytes) -> None:
    letter = _letter(value, max_bytes=1 << 20)
    wire = letter.to_json()
    assert len(wire) + len(letter.key()) < DEFAULT_BROKER_MAX
    back = DeadLetter.model_validate_json(wire)
    assert back.original_truncated is True and back.original_size == len(value)
    assert back.original_sha256 == hashlib.sha256(value).hexdigest()
    assert value.startswith(back.original()) and len(back.original()) > DEADLETTER_ORIGINAL_MAX_BYTES // 2
    assert back.problems and back.reason


def test_a_small_original_travels_whole_and_the_letter_reads_as_before() -> None:
    value = b'{"event_id": "e", "task": "transactions", "input": 3}'
    letter = _letter(value)
    assert letter.original() == value and letter.original_truncated is None
    wire = json.loads(letter.to_json())
    new = {"original_truncated", "original_size", "original_sha256", "original_key_truncated", "original_key_size"}
    assert not new & set(wire)  # an older reader (extra fields forbidden) still reads it


def test_a_huge_key_and_endless_problems_are_bounded_too() -> None:
    messages = [{"role": "nobody", "content": i} for i in range(5000)]
    value = json.dumps({"event_id": "e" * 5000, "task": "transactions", "input": messages}).encode()
    letter = _letter(value, key=b"k" * (4 << 20))
    wire = letter.to_json()
    assert len(wire) < DEFAULT_BROKER_MAX
    assert letter.original_key_truncated is True and letter.original_key_size == 4 << 20
    assert len(letter.problems) == 51 and letter.problems[-1].endswith("more problems")
    assert letter.event_id == "e" * 512


def test_unpaired_surrogates_in_what_the_letter_repeats_do_not_break_it() -> None:
    value = b'{"event_id": "\\ud800x", "task": "transactions", "input": "\\udfff", "metadata": {"\\ud800": 1}}'
    letter = _letter(value)
    assert letter.event_id == "\\ud800x"
    assert DeadLetter.model_validate_json(letter.to_json()).original() == value


def test_a_valid_event_is_not_a_letter() -> None:
    ev = InferenceEvent(event_id="e", task="transactions", input="KROGER")
    assert isinstance(triage(ev.to_json(), b"transactions", SRC, tasks=TASKS, max_bytes=1 << 20), InferenceEvent)
