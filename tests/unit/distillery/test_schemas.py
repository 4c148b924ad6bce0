"""The checked-in JSON Schemas match the contract and validate like it."""

from __future__ import annotations

import json

import jsonschema

from distillery.events import InferenceEvent
from distillery.schemas import SCHEMA_DIR, render_all, stale


def test_checked_in_schemas_match_the_contract() -> None:
    assert stale() == [], "run `distillery schemas write` and commit schemas/"
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(render_all())


def test_schema_accepts_what_the_contract_accepts_and_refuses_the_rest() -> None:
    schema = json.loads((SCHEMA_DIR / "inference.events.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    good = InferenceEvent(event_id="e", task="t", input=[{"role": "user", "content": "hi"}], confidence=0.5)
    assert list(validator.iter_errors(json.loads(good.to_json()))) == []
    bad = {"event_id": "e", "task": "t", "input": 3}
    assert [e.path[0] for e in validator.iter_errors(bad)] == ["input"]
