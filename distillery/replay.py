"""Replay a team's own logs (or synthetic traffic) as inference events.

Rows come from JSONL or CSV (column names set by the caller) or from the demo's
transaction generator. An optional shift of the category mix at a chosen row lets
a team see the drift alarm and the retrain it triggers on their own data.

The shift may come at any row: the monitors compare traffic with the serving
adapter's data, or before any adapter with a warm-up of a few hundred answers
(:func:`shift_in_warmup` says when a shift would fall inside that warm-up and
so become part of what is normal until an adapter is trained).

Ground truth is handled with care: only a ``gold_share`` of rows carry it on the
event (``label``: those feed the frozen gold set, never training); the rest keep
it off the wire, so the pipeline learns from the teacher, as in production.

>>> shift_in_warmup(100, warmup_min=200, warmup_per_category=6, warmup_max=600, categories=43)[:73]
"--shift-at 100 falls inside the monitors' warm-up (258 answers before any"
>>> shift_in_warmup(500, warmup_min=200, warmup_per_category=6, warmup_max=600, categories=43) is None
True
>>> rows = [Row("a", "x"), Row("b", "y"), Row("c", "x")]
>>> [r.input for r in shift_mix(rows * 2, at=3, category="y", share=1.0, seed=0)]
['a', 'b', 'c', 'b', 'b', 'b']
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillery.errors import ConfigError, InvalidInputError
from distillery.events import InferenceEvent, Usage


@dataclass(frozen=True)
class Row:
    """One logged request: the input, and optionally ground truth and production's answer."""

    input: str
    label: str | None = None
    output: str | None = None


def load_rows(path: Path, *, input_col: str = "input", label_col: str | None = "label",
              output_col: str | None = "output") -> list[Row]:
    """Read JSONL (``.jsonl``/``.json``) or CSV rows; a missing input column is an error naming it."""
    if not path.exists():
        raise ConfigError(f"replay file not found: {path}")
    records: Iterable[dict[str, Any]]
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        records = _jsonl(path)
    elif path.suffix.lower() in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8") as fh:
            records = list(csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    else:
        raise ConfigError(f"{path}: unknown format {path.suffix!r}; use .jsonl or .csv")
    rows = []
    for n, rec in enumerate(records, 1):
        if input_col not in rec:
            raise InvalidInputError([f"{path}:{n}: no {input_col!r} column (columns: {', '.join(rec)}); "
                                   "set it with --input-col"])
        label = rec.get(label_col) if label_col else None
        output = rec.get(output_col) if output_col else None
        rows.append(Row(str(rec[input_col]), str(label) if label not in (None, "") else None,
                        str(output) if output not in (None, "") else None))
    return rows


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError([f"{path}:{n}: not JSON ({exc.msg})"]) from None
            if not isinstance(rec, dict):
                raise InvalidInputError([f"{path}:{n}: expected a JSON object per line"])
            yield rec


def shift_mix(rows: Iterable[Row], *, at: int | None, category: str | None, share: float,
              seed: int = 0) -> Iterator[Row]:
    """Yield ``rows``; from row ``at`` on, ``share`` of them are drawn from ``category``.

    Models a shift of the category mix on real logs: the chosen category becomes
    common after the change point. Needs labeled rows of that category.
    """
    rows = list(rows)
    pool = [r for r in rows if r.label == category] if category else []
    if at is not None and category and not pool:
        raise ConfigError(f"--shift-category {category!r}: no rows carry that label; pick one present in the file")
    rng = random.Random(seed)
    for i, row in enumerate(rows):
        if at is not None and i >= at and pool and rng.random() < share:
            yield rng.choice(pool)
        else:
            yield row


def shift_in_warmup(at: int | None, *, warmup_min: int, warmup_per_category: int, warmup_max: int,
                    categories: int) -> str | None:
    """A warning when a shift at row ``at`` comes before the monitors' warm-up ends (no adapter yet), else None.

    The warm-up (``[monitors.drift]``) lasts ``warmup_per_category`` answers per
    category, between ``warmup_min`` and ``warmup_max``; a change inside it is
    part of the provisional reference, found only once an adapter's data is the reference.
    """
    if at is None:
        return None
    warmup = min(warmup_max, max(warmup_min, warmup_per_category * categories))
    if at >= warmup:
        return None
    return (f"--shift-at {at} falls inside the monitors' warm-up ({warmup} answers before any adapter): "
            "the shifted mix becomes the provisional reference until an adapter serves; "
            f"shift at {warmup} or later to see the alarm from the start")


def to_event(row: Row, *, task: str, event_id: str, ts_ms: int, production_model: str | None,
             with_label: bool, prompt_tokens: int | None = None) -> InferenceEvent:
    """The inference event a service would have emitted for this row."""
    completion = max(1, len((row.output or "").split())) if row.output else 0
    return InferenceEvent(
        event_id=event_id,
        task=task,
        input=row.input,
        ts=ts_ms,
        output=row.output,
        model=production_model if row.output else None,
        label=row.label if with_label else None,
        usage=Usage(prompt_tokens=prompt_tokens or max(1, len(row.input) // 4), completion_tokens=completion),
    )


MALFORMED: tuple[bytes, ...] = (
    b"\xff\xfeinvalid utf-8",
    b"{not json",
    b'{"event_id": 17, "task": "transactions", "input": ["x"]}',
    b'{"event_id": "m", "task": "transactions"}',
    b'{"event_id": "m", "task": "unknown-task", "input": "x"}',
    b"[]",
)
"""Hostile and broken values the synthetic stream mixes in to exercise the dead-letter path."""
