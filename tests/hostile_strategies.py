"""Hypothesis strategies for hostile Kafka records, generated from the contract's own schema.

:func:`schema_values` walks a JSON Schema (``schemas/<topic>.schema.json``, what
producers are told to send) and draws documents that mostly follow it, with
hostile leaves: extreme and boundary numbers (around every ``minimum``/``maximum``,
2**31, 2**63, 10**14, integers past 4,300 digits, NaN, infinities), extreme dates,
strings from every Unicode category (unpaired surrogates included), huge strings of
the redactor's worst shapes, deep nesting. Any node may instead be a value of the
wrong type, a required field may be missing and unknown fields may appear.
:func:`message_values` adds foreign JSON (other records, arrays, scalars) and bytes
that are not JSON or not UTF-8 at all. Documents are encoded by :func:`encode`,
which also writes what ``json.dumps`` cannot (raw fragments: deep nesting, huge
integers, duplicate keys).
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis.core
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"


@dataclass(frozen=True)
class Raw:
    """A JSON fragment written as is."""

    text: str


def encode(doc: Any) -> bytes:
    """``doc`` as JSON bytes; :class:`Raw` fragments are spliced in verbatim."""

    def enc(node: Any) -> str:
        if isinstance(node, Raw):
            return node.text
        if isinstance(node, dict):
            return "{" + ",".join(f"{json.dumps(k)}:{enc(v)}" for k, v in node.items()) + "}"
        if isinstance(node, list):
            return "[" + ",".join(enc(v) for v in node) + "]"
        return json.dumps(node)  # ensure_ascii: unpaired surrogates travel as \ud800 escapes

    return enc(doc).encode("utf-8")


FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 0)
"""The long run's examples per consumer (``make fuzz``); 0 in the normal suite."""
FUZZ_COMMON: dict[str, Any] = {"deadline": None, "database": None, "print_blob": True,
                               "suppress_health_check": list(HealthCheck)}


FUZZ_CHUNK = 2_000
"""Examples per hypothesis run in the long run: the engine keeps what every example generated
until its run ends (13 KB an example for 4.5 KB of input, measured), so one run of 100,000
hostile examples would hold gigabytes."""


def fuzz_profile(name: str, suite_examples: int) -> settings:
    """Hypothesis settings for one consumer's fuzzer: ``suite_examples`` in the suite, a chunk in the long run."""
    settings.register_profile(f"{name}-suite", max_examples=suite_examples, **FUZZ_COMMON)
    settings.register_profile(f"{name}-fuzz", max_examples=min(max(FUZZ_EXAMPLES, 1), FUZZ_CHUNK), **FUZZ_COMMON)
    return settings.get_profile(f"{name}-fuzz" if FUZZ_EXAMPLES else f"{name}-suite")


def run_fuzz(test: Callable[[], None]) -> None:
    """Run a ``@given`` fuzzer made with :func:`fuzz_profile`: once in the suite, ``FUZZ_EXAMPLES`` in the long run.

    The long run is ``FUZZ_EXAMPLES / FUZZ_CHUNK`` fresh hypothesis runs (rounded up), each seeded
    from ``--hypothesis-seed`` (or one random base, printed) and its chunk number, so memory
    stays flat and a failure names the seed that reproduces it.
    """
    if not FUZZ_EXAMPLES:
        test()
        return
    base = hypothesis.core.global_force_seed
    if base is None:
        base = random.getrandbits(32)
    for chunk in range(-(-FUZZ_EXAMPLES // FUZZ_CHUNK)):
        print(f"fuzz chunk {chunk + 1}: seed {base}-{chunk}, {_rss_mb():,} MB resident", flush=True)
        seed(f"{base}-{chunk}")(test)()


def _rss_mb() -> int:
    """This process's resident memory in MB (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (OSError, ValueError, IndexError):
        return 0


def load_schema(topic: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{topic}.schema.json").read_text())  # type: ignore[no-any-return]


# ------------------------------------------------------------------------ leaves
ANY_CHAR = st.characters(exclude_categories=())  # every category, surrogates (Cs) included
WORST_UNITS = ["a", "a@", "@", ".b", "a.", "1", "1a", "1 ", "1-", "+" + "1" * 25 + " ", "+1 (234) ", "123-45-678",
               "i ", "```", " ", "\n", "\u200b", "\u00a0", "\x00", "[", "{", "\\", '"', "\U0001f600", "\ud800"]


def huge_strings(max_chars: int) -> st.SearchStrategy[str]:
    """A worst shape repeated up to ``max_chars`` characters (the redactor's and filters' nightmares)."""
    return st.builds(lambda unit, n, tail: (unit * (n // len(unit) + 1))[:n] + tail,
                     st.sampled_from(WORST_UNITS), st.integers(1_000, max_chars), st.sampled_from(["", "@x.io", " 4111111111111111"]))


def strings(min_size: int = 0, max_size: int | None = None, *, huge: int = 200_000) -> st.SearchStrategy[str]:
    cap = 64 if max_size is None else min(max_size, 64)
    small = st.text(ANY_CHAR, min_size=min_size, max_size=max(cap, min_size))
    pii = st.sampled_from(["jane.doe@example.com", "4111 1111 1111 1111", "+44 20 7946 0958", "123-45-6789",
                           "(206) 555-0199", "STARBUCKS #1234 SEATTLE", "groceries", "", " ", "null", "{}"])
    options = [small, small, pii]
    if max_size is None or max_size > 1000:
        options.append(huge_strings(huge if max_size is None else min(huge, max_size)))
    return st.one_of(*options)


VALID_CHAR = st.characters(exclude_categories=("Cs",))  # every category but unpaired surrogates


def valid_strings(min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Strings the contract accepts, hostile in content: any character, worst shapes, PII."""
    cap = 64 if max_size is None else min(max_size, 64)
    options = [st.text(VALID_CHAR, min_size=min_size, max_size=max(cap, min_size)),
               st.sampled_from(["jane.doe@example.com 4111 1111 1111 1111", "ZELLE TO +44 20 7946 0958",
                                "STARBUCKS #1234 SEATTLE", "groceries", "SSN 123-45-6789"])]
    if max_size is None:
        options.append(huge_strings(200_000).map(lambda t: t.replace("\ud800", "?")))
    return st.one_of(*options).filter(lambda t: len(t) >= min_size and (max_size is None or len(t) <= max_size))


def valid_integers(minimum: int | None = None, maximum: int | None = None) -> st.SearchStrategy[int]:
    lo = -(2**63) if minimum is None else minimum
    hi = 2**63 - 1 if maximum is None else maximum
    edges = [v for v in (lo, lo + 1, hi - 1, hi, 0, 1, 2**31 - 1) if lo <= v <= hi]
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def integers(minimum: int | None = None, maximum: int | None = None) -> st.SearchStrategy[Any]:
    edges = [0, -1, 1, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**14 - 1,
             10**14, 10**18, 10**30]
    for bound in (minimum, maximum):
        if bound is not None:
            edges += [bound - 1, bound, bound + 1]
    return st.one_of(st.sampled_from(edges), st.sampled_from(edges), st.integers(),
                     st.sampled_from([Raw("9" * 5000), Raw("-0"), Raw("1.0e0")]))


def numbers(minimum: float | None = None, maximum: float | None = None) -> st.SearchStrategy[Any]:
    edges: list[Any] = [0.0, -0.0, 1.0, 1e-320, 1e308, -1e308, 0.5, 1.0000000000000002, Raw("NaN"), Raw("Infinity"),
                        Raw("-Infinity"), Raw("1e999"), Raw("1E-999")]
    for bound in (minimum, maximum):
        if bound is not None:
            edges += [bound, math.nextafter(bound, -math.inf), math.nextafter(bound, math.inf)]
    return st.one_of(st.sampled_from(edges), st.floats(allow_nan=False, allow_infinity=False), integers())


def times() -> st.SearchStrategy[Any]:
    """``ts`` values: ISO times of every year and offset, epoch numbers, near misses."""
    iso = st.builds(
        lambda y, mo, d, h, mi, s, frac, off: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{off}",
        st.integers(1, 9999), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59),
        st.integers(0, 59), st.sampled_from(["", ".5", ".999999", ".123456789"]),
        st.sampled_from(["", "Z", "+14:00", "-14:00", "+23:59", "-23:59:59.999999", "+05:30"]))
    fixed = st.sampled_from(["0001-01-01", "9999-12-31", "1970-01-01", "1969-12-31T23:59:59.999Z",
                             "5138-11-16T09:46:40Z", "2026-02-30", "2026-13-01", "20260101", "2026-W01-1",
                             "2026-01-01T24:00:00", "", "now", "0000-00-00", "+10000-01-01"])
    return st.one_of(iso, fixed, integers(0, 10**14))


def valid_times() -> st.SearchStrategy[Any]:
    """``ts`` values the contract accepts: ISO times of any offset inside its range, epoch ms."""
    iso = st.builds(
        lambda y, mo, d, h, frac, off: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:00:00{frac}{off}",
        st.integers(1971, 5137), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23),
        st.sampled_from(["", ".5", ".999999"]), st.sampled_from(["", "Z", "+14:00", "-14:00", "+05:30"]))
    return st.one_of(iso, st.sampled_from(["1970-01-02", "2026-03-01T10:00:00"]), valid_integers(0, 10**14 - 1))


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value (the wrong type for whatever field it lands in), nesting included."""
    leaves = st.one_of(st.none(), st.booleans(), integers(), numbers(), strings(max_size=64))
    return st.recursive(leaves, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                        st.dictionaries(strings(max_size=16), kids, max_size=4)),
                        max_leaves=max_leaves)


def deep(max_depth: int = 3000) -> st.SearchStrategy[Raw]:
    """Nesting around the parser's limits (32 for events, ~1000 for Python's json)."""
    return st.builds(lambda d, kind: Raw(("[" * d + "1" + "]" * d) if kind else ('{"a":' * d + "1" + "}" * d)),
                     st.sampled_from([31, 32, 33, 100, 999, 1000, 1001, max_depth]), st.booleans())


# ------------------------------------------------------------------------ schema
FIELD_OVERRIDES: dict[str, st.SearchStrategy[Any]] = {"ts": times()}


def valid_values(schema: dict[str, Any], *, root: dict[str, Any] | None = None, name: str = "",
                 overrides: dict[str, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[Any]:
    """Documents ``schema`` accepts, with hostile content (any character, huge strings, range edges)."""
    root = root or schema
    overrides = {"ts": valid_times(), **(overrides or {})}
    if name in overrides:
        return overrides[name]
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return valid_values(target, root=root, name=name, overrides=overrides)
    if "anyOf" in schema:
        return st.one_of(*(valid_values(s, root=root, name=name, overrides=overrides) for s in schema["anyOf"]))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fields = {k: valid_values(v, root=root, name=k, overrides=overrides) for k, v in props.items()}
        free = st.dictionaries(valid_strings(0, 24), st.one_of(st.none(), st.booleans(), valid_integers(),
                                                                valid_strings(0, 64)), max_size=4)

        @st.composite
        def objects(draw: st.DrawFn) -> dict[str, Any]:
            doc = {k: draw(v) for k, v in fields.items() if k in required or draw(st.booleans())}
            if not props or schema.get("additionalProperties"):
                doc.update(draw(free))
            return doc

        return objects()
    if kind == "array":
        items = valid_values(schema.get("items", {}), root=root, overrides=overrides)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=6)
    if kind == "string" and "pattern" in schema:  # a digest, an id: what the pattern admits
        return st.from_regex(schema["pattern"], fullmatch=True)
    if kind == "string":
        return valid_strings(schema.get("minLength", 0), schema.get("maxLength"))
    if kind == "integer":
        return valid_integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    return st.none()


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict) and node:
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list) and node:
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path] if path else []


def _leaf_mutation(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """Replace one leaf by a hostile value of the same kind: an edge integer, an extreme time, a wild string."""
    leaves = _leaves(doc)
    if not leaves:
        return
    path = draw(st.sampled_from(leaves))
    parent: Any = doc
    for part in path[:-1]:
        parent = parent[part]
    old = parent[path[-1]]
    if path[-1] == "ts":
        new = draw(times())
    elif isinstance(old, bool) or old is None:
        new = draw(json_values(2))
    elif isinstance(old, int):
        new = draw(integers())
    elif isinstance(old, float):
        new = draw(numbers())
    else:
        new = draw(strings(max_size=None if isinstance(old, str) and len(old) > 64 else 600))
    parent[path[-1]] = new


@st.composite
def mutated(draw: st.DrawFn, docs: st.SearchStrategy[dict[str, Any]], schema: dict[str, Any]) -> Any:
    """A valid document with one to three faults: a leaf out of range, a field of the wrong type, missing, unknown."""
    doc = json.loads(json.dumps(draw(docs)))  # a deep copy (Raw never occurs in valid documents)
    names = sorted(schema.get("properties", {}))
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(names))
        how = draw(st.integers(0, 5))
        if how >= 4:
            _leaf_mutation(draw, doc)
        elif how == 0:
            doc.pop(field, None)
        elif how == 1:
            doc[field] = draw(json_values(4))
        elif how == 2:
            doc[field] = draw(schema_values(schema["properties"][field], root=schema, name=field))
        else:
            doc[draw(strings(max_size=24))] = draw(json_values(4))
    return doc


def schema_values(schema: dict[str, Any], *, root: dict[str, Any] | None = None, name: str = "",
                  overrides: dict[str, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[Any]:
    """Documents shaped by ``schema``, hostile at the leaves, sometimes of the wrong shape."""
    root = root or schema
    overrides = {**FIELD_OVERRIDES, **(overrides or {})}
    if name in overrides:
        return st.one_of(overrides[name], overrides[name], json_values(4))
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return schema_values(target, root=root, name=name, overrides=overrides)
    if "anyOf" in schema:
        return st.one_of(*(schema_values(s, root=root, name=name, overrides=overrides) for s in schema["anyOf"]))
    wrong = json_values(4)
    if "const" in schema:
        return st.one_of(st.just(schema["const"]), st.just(schema["const"]), wrong)
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), st.sampled_from(schema["enum"]), wrong)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fields = {k: schema_values(v, root=root, name=k, overrides=overrides) for k, v in props.items()}

        @st.composite
        def objects(draw: st.DrawFn) -> dict[str, Any]:
            doc: dict[str, Any] = {}
            for key, strategy in fields.items():
                keep = draw(st.integers(0, 19))
                if keep == 0 or (key not in required and keep < 10):
                    continue  # missing (a required one now and then)
                doc[key] = draw(strategy)
            if draw(st.integers(0, 4)) == 0:  # unknown fields
                doc.update(draw(st.dictionaries(strings(max_size=24), json_values(4), max_size=3)))
            if schema.get("additionalProperties") and draw(st.booleans()):
                doc.update(draw(st.dictionaries(strings(max_size=24), st.one_of(json_values(6), deep(60)),
                                                max_size=4)))
            return doc

        return st.one_of(objects(), objects(), objects(), wrong)
    if kind == "array":
        items = schema_values(schema.get("items", {}), root=root, overrides=overrides)
        return st.one_of(st.lists(items, min_size=schema.get("minItems", 0), max_size=6),
                         st.lists(items, max_size=2), wrong)
    if kind == "string":
        admitted = [st.from_regex(schema["pattern"], fullmatch=True)] if "pattern" in schema else []
        return st.one_of(*admitted, strings(schema.get("minLength", 0), schema.get("maxLength")), wrong)
    if kind == "integer":
        return st.one_of(integers(schema.get("minimum"), schema.get("maximum")), wrong)
    if kind == "number":
        return st.one_of(numbers(schema.get("minimum"), schema.get("maximum")), wrong)
    if kind == "null":
        return st.one_of(st.none(), wrong)
    return json_values()


def message_values(schema: dict[str, Any], *, overrides: dict[str, st.SearchStrategy[Any]] | None = None,
                   valid_overrides: dict[str, st.SearchStrategy[Any]] | None = None,
                   foreign: list[dict[str, Any]] | None = None) -> st.SearchStrategy[bytes | None]:
    """Kafka message values: valid documents (hostile content), near misses, wild ones, anything at all."""
    valid = valid_values(schema, overrides=valid_overrides)
    encoded = valid.map(encode)
    near = mutated(valid, schema).map(encode)
    wild = schema_values(schema, overrides=overrides).map(encode)
    others = [
        st.none(),  # a tombstone
        st.binary(max_size=64),  # not JSON, often not UTF-8
        st.just(b"\xef\xbb\xbf" + encode({"task": "transactions"})),  # a BOM
        json_values(12).map(encode),  # foreign JSON: arrays, scalars, other shapes
        deep().map(encode),
        encoded.map(lambda b: b[: max(1, len(b) // 2)]),  # truncated
        encoded.map(lambda b: b + b"garbage"),
        encoded.map(lambda b: b.replace(b"\\u", b"\\x", 1)),  # a broken escape
        st.builds(lambda n: b"{" * n, st.integers(1, 2 << 20)),  # up to 2 MiB, past the size limit
    ]
    if foreign:
        others.append(st.sampled_from(foreign).map(encode))
    anything = st.one_of(*others)
    # weighted (one_of weighs its branches alike): 55% valid, 20% near misses, 10% wild, 15% anything
    return st.integers(0, 99).flatmap(
        lambda r: encoded if r < 55 else near if r < 75 else wild if r < 85 else anything)


def message_keys() -> st.SearchStrategy[bytes | None]:
    return st.one_of(st.just(b"transactions"), st.none(), st.binary(max_size=32),
                     st.builds(lambda n: b"k" * n, st.integers(1_000, 1_500_000)))
