"""JSON Schema files for the contract, generated from :mod:`distillery.events`.

``schemas/<topic>.schema.json`` are checked in so producers in other languages can
validate what they send; a test regenerates them and fails if they drift.
"""

from __future__ import annotations

import json
from pathlib import Path

from distillery.events import RECORDS, SCHEMA_VERSION, Record

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def schema_for(record: type[Record]) -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of one record, with its topic and version."""
    schema = record.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://distillery.dev/schemas/v{SCHEMA_VERSION}/{record.topic_name}.schema.json",
        "x-topic": record.topic_name,
        "x-schema-version": SCHEMA_VERSION,
        "x-key": "the task name, UTF-8",
        **schema,
    }


def render_all() -> dict[str, str]:
    """File name -> JSON text for every record."""
    return {
        f"{r.topic_name}.schema.json": json.dumps(schema_for(r), indent=2, sort_keys=True) + "\n"
        for r in RECORDS
    }


def write_all(folder: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file into ``folder``; return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in render_all().items():
        path = folder / name
        path.write_text(text)
        out.append(path)
    return out


def stale(folder: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files missing from ``folder`` or different from the contract."""
    bad = []
    for name, text in render_all().items():
        path = folder / name
        if not path.exists() or path.read_text() != text:
            bad.append(name)
    return bad
