"""The report as JSON: every number at full precision, ``null`` where a value is infinite.

JSON has no infinity, so "never breaks even" is ``"break_even_months": null``
with ``"breaks_even": false`` beside it. Without a student share there is no
break-even at all: ``"economics": null`` and ``"breaks_even": null``.
Per-category gold figures are under ``"categories"`` (one object per category,
``blind_spot`` and ``worst`` marked), ``"share"`` and ``"answered"`` say where the
student share and its accuracy come from (``source`` and ``basis``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

from serving.report.model import TaskReport


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isinf(value) or math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def report_dict(report: TaskReport) -> dict[str, Any]:
    """One task's report as JSON-ready data."""
    out = dataclasses.asdict(report)
    out["verdict"] = report.decision.verdict
    out["headline"] = report.decision.headline
    e = report.economics
    out["breaks_even"] = None if e is None else not math.isinf(e.months)
    out["break_even_months"] = None if e is None else e.months
    out["agreement"] = [{**dataclasses.asdict(w), "start_ms": w.start_ms, "rate": w.rate} for w in report.agreement]
    return _clean(out)


def to_json(reports: Sequence[TaskReport], generated_at_ms: int) -> str:
    """Every task's report in one document, keyed by task."""
    doc = {"generated_at_ms": generated_at_ms, "tasks": {r.task: report_dict(r) for r in reports}}
    return json.dumps(doc, indent=2, sort_keys=False)
