"""The alarm gate turns a storm of firings into one alarm, and alarms into complete DriftEvents."""

from __future__ import annotations

import random

import pytest

from distillery.errors import ConfigError
from monitors.alarm import AlarmGate, Position, build_drift_event, drift_id
from monitors.severity import SeverityScale, severity_of
from monitors.signals import Agreement, CategoryMix, Change, InputLength


def test_cooldown_collapses_a_burst_into_one_alarm() -> None:
    gate = AlarmGate(cooldown_events=2000)
    sig = Agreement()
    burst = [gate.offer(sig, Change(0.95, 0.85 + (at % 3) * 0.005, at)) for at in range(5000, 9000, 150)]
    assert burst.count(True) == 1 and burst[0] is True
    assert gate.folded("agreement") == len(burst) - 1
    # the episode ends only after 2,000 quiet observations since the *last* firing (8,900)
    assert gate.offer(sig, Change(0.85, 0.85, 10_800)) is False
    assert gate.offer(sig, Change(0.85, 0.95, 12_801)) is True


def test_hysteresis_re_alarms_only_when_the_level_moved_on() -> None:
    gate = AlarmGate(cooldown_events=2000, hysteresis=1.0)
    sig = Agreement()  # warning-size move: 0.03
    assert gate.offer(sig, Change(0.95, 0.85, 1000)) is True
    assert gate.offer(sig, Change(0.86, 0.83, 1500)) is False  # 0.02 from the alarm's level
    assert gate.offer(sig, Change(0.83, 0.81, 1900)) is True  # 0.04: the drift kept going
    assert gate.offer(sig, Change(0.80, 0.80, 2100)) is False


def test_category_mix_has_no_hysteresis_step() -> None:
    gate = AlarmGate(cooldown_events=2000)
    mix = CategoryMix()
    assert gate.offer(mix, Change(0.1, 0.3, 5000)) is True
    assert gate.offer(mix, Change(0.1, 0.9, 6000)) is False


def test_a_long_slide_is_reported_once_per_step_with_its_levels() -> None:
    rng = random.Random(5)
    # agreement slides from 95% to 65% over 30,000 labeled events, then stays
    stream = [rng.random() < 0.95 for _ in range(10_000)]
    stream += [rng.random() < 0.95 - 0.30 * i / 30_000 for i in range(30_000)]
    stream += [rng.random() < 0.65 for _ in range(5_000)]
    sig, gate = Agreement(), AlarmGate(cooldown_events=2000)
    seen = []
    for agree in stream:
        if sig.update(agree):
            change = sig.last_change
            assert change is not None and change.before is not None and change.after is not None
            seen.append((change.at, round(change.before, 2), round(change.after, 2), gate.offer(sig, change)))
    assert seen == [(14784, 0.95, 0.92, True), (23072, 0.87, 0.84, True), (31456, 0.79, 0.75, True),
                    (43200, 0.69, 0.65, True)]


def test_signals_are_independent() -> None:
    gate = AlarmGate(cooldown_events=2000)
    assert gate.offer(Agreement(), Change(0.95, 0.85, 100)) is True
    assert gate.offer(InputLength(), Change(30.0, 40.0, 100)) is True


@pytest.mark.parametrize(("kwargs", "match"), [({"cooldown_events": -1}, "cooldown_events must be >= 0"),
                                                ({"hysteresis": 0.0}, "hysteresis must be > 0")])
def test_gate_refuses_bad_settings(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        AlarmGate(**kwargs)  # type: ignore[arg-type]


def test_drift_event_carries_the_contract_fields() -> None:
    sig = Agreement()
    pos = Position("distill.labeled", 2, 4711)
    ev = build_drift_event("transactions", sig, Change(0.95, 0.85, 5248), position=pos, event_ts_ms=1_700_000,
                           detail={"folded": 0})
    assert (ev.task, ev.signal, ev.detector, ev.estimate_before, ev.estimate_after) == (
        "transactions", "agreement", "ADWIN", 0.95, 0.85)
    assert (ev.severity, ev.events_seen, ev.source_topic, ev.source_partition, ev.source_offset) == (
        "critical", 5248, "distill.labeled", 2, 4711)
    assert ev.event_ts_ms == 1_700_000 and ev.detail == {"folded": 0}
    assert ev.drift_id == drift_id("transactions", "agreement", pos, 5248)
    assert ev.drift_id != drift_id("transactions", "agreement", Position("distill.labeled", 2, 4712), 5248)
    assert ev.drift_id.startswith("drift-") and len(ev.drift_id) == 38


def test_drift_event_without_a_position_is_keyed_by_the_count() -> None:
    ev = build_drift_event("t", InputLength(), Change(30.0, 40.0, 900))
    assert ev.source_topic is None and ev.severity == "warning"
    assert ev.drift_id == drift_id("t", "input_length", None, 900) != drift_id("t", "input_length", None, 901)


def test_category_mix_detail_reaches_the_event() -> None:
    mix = CategoryMix()
    mix._detail = {"window": 200, "moved": [{"category": "fuel", "share_before": 0.1, "share_after": 0.3}]}
    ev = build_drift_event("t", mix, Change(0.12, 0.31, 4000))
    assert ev.detail["moved"][0]["category"] == "fuel" and ev.severity == "warning"


@pytest.mark.parametrize(
    ("scale", "before", "after", "expected"),
    [
        (SeverityScale(0.03, 0.10, worse="down"), 0.95, 0.85, "critical"),
        (SeverityScale(0.03, 0.10, worse="down"), 0.95, 0.91, "warning"),
        (SeverityScale(0.03, 0.10, worse="down"), 0.85, 0.99, "info"),
        (SeverityScale(0.01, 0.05, worse="up"), 0.01, 0.07, "critical"),
        (SeverityScale(0.2, 0.5, relative=True), 40.0, 20.0, "critical"),
        (SeverityScale(0.2, 0.5, relative=True), 40.0, 44.0, "info"),
        (SeverityScale(0.2, 0.5, relative=True), None, 44.0, "info"),
    ],
)
def test_severity_from_the_size_and_direction_of_the_move(
    scale: SeverityScale, before: float | None, after: float | None, expected: str
) -> None:
    assert severity_of(scale, before, after) == expected


def test_severity_scale_refuses_inverted_thresholds() -> None:
    with pytest.raises(ConfigError, match="0 < warning <= critical, got warning=0.5 critical=0.2"):
        SeverityScale(warning=0.5, critical=0.2)
