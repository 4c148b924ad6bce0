"""Where a production answer came from decides its label source.

An answer the router escalated to the teacher is a hard input the student was
unsure of, not a random draw from traffic: it is labeled ``router_escalation``
so the monitors keep it out of the agreement estimate; an answer the service got
from the teacher model directly is ``production``.
"""

from __future__ import annotations

from pathlib import Path

from distillery.counters import Counters
from distillery.events import InferenceEvent
from distillery.settings import load_settings
from streams.pipeline import Pipeline
from streams.source import Source

ROOT = Path(__file__).resolve().parents[3]


async def test_router_escalations_and_plain_production_answers_get_their_own_source(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "distillery.toml", env={}).with_overrides(data_dir=tmp_path)
    pipeline = Pipeline(settings, Counters("streams"),
                        teacher_factory=lambda task: (_ for _ in ()).throw(AssertionError("no teacher call")))
    events = [
        InferenceEvent(event_id="direct", task="transactions", input="KROGER #123 CINCINNATI OH",
                       output="groceries", model="gpt-4.1", ts=1_780_000_000_000),
        InferenceEvent(event_id="escalated", task="transactions", input="SQ *BLUE BOTTLE 0042 OAKLAND CA",
                       output="coffee_shops", model="gpt-4.1", route="teacher", ts=1_780_000_000_001),
    ]
    raws = [(e.to_json(), b"transactions", Source("inference.events", 0, i)) for i, e in enumerate(events)]
    try:
        out = await pipeline.process(raws)
    finally:
        await pipeline.close()
    assert {r.event_id: r.source for r in out.labeled} == {"direct": "production", "escalated": "router_escalation"}
