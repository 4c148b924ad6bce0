"""Turn raw Kafka bytes into an :class:`InferenceEvent`, or every reason why not.

Producers are other teams' services, so an invalid event is normal input, not an
exception: :func:`parse_inference` returns the problems, each with the field path
and why, and the caller routes the bytes to the dead-letter topic.

>>> parse_inference(b'{"event_id": "e1", "task": "t", "input": 3}', tasks={"t"}).problems
['input: expected string or list of messages, got int']
>>> parse_inference(b'\\xff', tasks={"t"}).problems
['value: not valid UTF-8 (byte 0xff at position 0)']
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pydantic

from distillery.errors import InvalidInputError, UnknownTaskError
from distillery.events import MAX_EVENT_BYTES, InferenceEvent
from distillery.text import utf8_safe

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "null",
}

_EXPECTED = {
    "input": "string or list of messages",
    "output": "string or object",
    "label": "string or object",
    "ts": "ISO-8601 string or epoch milliseconds",
}

MAX_DEPTH = 32
"""Nesting deeper than this is refused before parsing anything (hostile input)."""


@dataclass(frozen=True)
class Parsed:
    """The outcome of parsing one message: an event, or the problems found."""

    event: InferenceEvent | None
    problems: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.event is not None


def _type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _lookup(doc: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            doc = doc[part]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean_loc(doc: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union-branch tags (``str``, ``list[ChatMessage]``) from a location."""
    out: list[Any] = []
    node = doc
    for i, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, dict) and i == len(loc) - 1:
            pass  # a missing key: keep it, it is the field being reported
        else:
            continue
        out.append(part)
    return tuple(out)


_UNION_OK = {"input": (str, list), "output": (str, dict), "label": (str, dict), "ts": (str, int)}


def describe_errors(err: pydantic.ValidationError, doc: Any) -> list[str]:
    """One readable line per problem, ``field.path: why``, each union field reported once."""
    problems: list[str] = []
    for e in err.errors():
        loc = _clean_loc(doc, tuple(e["loc"]))
        top = loc[0] if loc else ""
        value = _lookup(doc, loc)
        if e["type"] == "missing":
            line = f"{_path(loc)}: required field is missing"
        elif e["type"] == "extra_forbidden":
            line = f"{_path(loc)}: unknown field"
        elif top in _EXPECTED and len(loc) == 1 and not (
            isinstance(value, _UNION_OK[top]) and not isinstance(value, bool)
        ):
            line = f"{top}: expected {_EXPECTED[top]}, got {_type_name(value)}"
        elif top in _EXPECTED and len(loc) == 1 and e["type"].endswith("_type"):
            continue  # the other branch of a union complaining about a value of the right type
        else:
            msg = e["msg"].replace("Value error, ", "").replace("Input should be", "expected")
            shown = json.dumps(value, default=str)
            line = f"{_path(loc)}: {msg}, got {_type_name(value)} {shown[:60]}"
        if line not in problems:
            problems.append(line)
    return problems


def _depth(doc: Any, limit: int) -> int:
    stack = [(doc, 1)]
    deepest = 0
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def _lone_surrogate(doc: Any) -> str | None:
    """The path of the first key or string value holding an unpaired surrogate, or None.

    JSON can escape one (``"\\ud800"``) and ``json.loads`` keeps it; UTF-8 cannot
    encode it, so DuckDB refuses the row and a producer the record.

    >>> _lone_surrogate({"a": ["ok", "x" + chr(0xD800)]}), _lone_surrogate({"a": "Café 😀"})
    ('a[1]', None)
    """
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and _unencodable(node):
                return path or "value"
        elif isinstance(node, dict):
            for k, v in node.items():
                name = f"{path}.{k}" if path else str(k)
                if not k.isascii() and _unencodable(k):
                    return utf8_safe(name)
                stack.append((v, name))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
    return None


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_inference(
    raw: bytes | None,
    *,
    tasks: Collection[str] | None = None,
    max_bytes: int = MAX_EVENT_BYTES,
) -> Parsed:
    """Validate one ``inference.events`` message value.

    ``tasks`` is the set of declared task names; ``None`` accepts any task.

    Fast path first: one pydantic call parses and validates the JSON bytes (about
    half the cost of ``json.loads`` plus validation). It is taken only where its
    answer cannot differ from the careful path's (within the size limit, too few
    brackets to nest too deep); whatever it refuses goes through the careful path,
    which finds every problem and words it.
    """
    if raw is not None and len(raw) <= max_bytes and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        try:
            event = InferenceEvent.model_validate_json(raw)
        except pydantic.ValidationError:
            pass
        else:
            return _declared(event, tasks)
    return parse_inference_carefully(raw, tasks=tasks, max_bytes=max_bytes)


def _declared(event: InferenceEvent, tasks: Collection[str] | None) -> Parsed:
    """The event, or the unknown-task problem when its task is not declared."""
    if tasks is not None and event.task not in tasks:
        known = ", ".join(sorted(tasks)) or "none"
        return Parsed(
            None,
            [f"task: unknown task {event.task!r}; declared tasks: {known} (add it to the task config)"],
            "unknown_task",
        )
    return Parsed(event)


def parse_inference_carefully(
    raw: bytes | None,
    *,
    tasks: Collection[str] | None = None,
    max_bytes: int = MAX_EVENT_BYTES,
) -> Parsed:
    """:func:`parse_inference` one step at a time, naming the first step that fails."""
    if raw is None:
        return Parsed(None, ["value: message has no value (tombstone)"], "empty")
    if len(raw) > max_bytes:
        return Parsed(None, [f"value: {len(raw)} bytes is over the {max_bytes}-byte limit"], "too_large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start]
        return Parsed(None, [f"value: not valid UTF-8 (byte 0x{bad:02x} at position {exc.start})"], "not_utf8")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError beyond JSONDecodeError: an integer longer than Python converts (4,300 digits)
        if isinstance(exc, json.JSONDecodeError):
            msg = exc.msg
        else:
            msg = str(exc).split("; use ")[0] if isinstance(exc, ValueError) else "nested too deeply"
        return Parsed(None, [f"value: not JSON ({msg})"], "not_json")
    if not isinstance(doc, dict):
        return Parsed(None, [f"value: expected a JSON object, got {_type_name(doc)}"], "not_object")
    # only a value with enough brackets can nest that deep: skip the walk for the rest
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _depth(doc, MAX_DEPTH) > MAX_DEPTH:
        return Parsed(None, [f"value: nested deeper than {MAX_DEPTH} levels"], "too_deep")
    where = _lone_surrogate(doc)
    if where is not None:
        return Parsed(None, [f"{where}: holds an unpaired UTF-16 surrogate (a \\ud800-\\udfff escape without "
                             "its pair), which no store or topic can carry; send valid Unicode text"], "not_unicode")
    version = doc.get("schema_version", 1)
    if version != 1:
        return Parsed(
            None,
            [f"schema_version: this worker reads version 1, got {json.dumps(version)[:20]}; upgrade the worker"],
            "schema_version",
        )
    try:
        event = InferenceEvent.model_validate(doc)
    except pydantic.ValidationError as err:
        return Parsed(None, describe_errors(err, doc) or [str(err)], "invalid")
    return _declared(event, tasks)


def validate_inference(raw: bytes, **kwargs: Any) -> InferenceEvent:
    """Like :func:`parse_inference` but raises :class:`InvalidInputError` on any problem."""
    parsed = parse_inference(raw, **kwargs)
    if parsed.event is None:
        cls = UnknownTaskError if parsed.reason == "unknown_task" else InvalidInputError
        raise cls(parsed.problems)
    return parsed.event
