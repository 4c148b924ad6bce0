"""The streams app's small pieces: drift records boost their task; the ingest group keeps its name."""

from __future__ import annotations

from pathlib import Path

from distillery.events import DriftEvent
from distillery.settings import load_settings
from streams.app import ingest_group, on_drift_records
from streams.source import Source

ROOT = Path(__file__).resolve().parents[3]


class FakePipeline:
    def __init__(self) -> None:
        self.drifts: list[tuple[str, int]] = []

    def on_drift(self, task: str, at_ms: int) -> None:
        self.drifts.append((task, at_ms))


def test_drift_records_boost_their_task_and_foreign_ones_are_ignored() -> None:
    drift = DriftEvent(task="transactions", signal="category_mix", detector="ADWIN", detected_at_ms=1_234)
    pipeline = FakePipeline()
    on_drift_records(pipeline, [(b"not a drift event", None, Source("drift", 0, 0)),  # type: ignore[arg-type]
                                (drift.to_json(), b"transactions", Source("drift", 0, 1))])
    assert pipeline.drifts == [("transactions", 1_234)]


def test_ingest_group_is_the_group_the_offsets_were_always_committed_in() -> None:
    settings = load_settings(ROOT / "distillery.toml").with_overrides(topic_prefix="t1.")
    assert ingest_group(settings) == "t1.distillery-streams"
