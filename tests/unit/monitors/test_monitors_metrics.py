"""Monitors bookkeeping: chart buckets, checkpointable stats, counter snapshots, Prometheus families."""

from __future__ import annotations

import json
import random

from prometheus_client import generate_latest

from distillery.events import DriftEvent
from monitors.metrics import Ops, TaskStats, registry_for


def _answers(seed: int, n: int, p: float) -> list[bool]:
    rng = random.Random(seed)
    return [rng.random() < p for _ in range(n)]


def test_agreement_points_are_buckets_of_answers_not_clock_ticks() -> None:
    stats = TaskStats("t", bucket=50)
    answers = _answers(1, 520, 0.9)
    for i, agree in enumerate(answers):
        stats.on_teacher(agree=agree, t_ms=10 * i, level=0.5)
    stats.on_teacher(agree=None, t_ms=0, level=None)  # a label with no student answer: counted, not charted
    assert [t for t, _, _ in stats.agreement] == [10 * (50 * k + 49) for k in range(10)]
    assert [r for _, r, _ in stats.agreement] == [sum(answers[50 * k:50 * k + 50]) / 50 for k in range(10)]
    assert stats.counts["sampled"] == 521 and stats.counts["labeled"] == 521


def test_category_points_hold_each_buckets_shares() -> None:
    stats = TaskStats("t", bucket=4)
    for i, cat in enumerate(["a", "b", "a", "a", "c", None, "c", "c", "b"]):
        stats.on_inference(cat, t_ms=i, distance=0.1 * i)
    assert list(stats.categories) == [(3, {"a": 0.75, "b": 0.25}, 0.30000000000000004),
                                      (8, {"b": 0.25, "c": 0.75}, 0.8)]
    assert stats.counts["events_in"] == 9


def test_stats_survive_a_json_round_trip_with_their_open_buckets() -> None:
    stats = TaskStats("t", bucket=10, points=3)
    for i, agree in enumerate(_answers(2, 57, 0.8)):
        stats.on_teacher(agree=agree, t_ms=i, level=0.8, cost_usd=0.001)
    stats.on_teacher(agree=None, t_ms=57, level=None, rejected=True)
    stats.on_dead_letter()
    stats.on_alarm(DriftEvent(task="t", signal="agreement", detector="ADWIN", estimate_before=0.9,
                              estimate_after=0.7, severity="critical", source_topic="distill.labeled",
                              source_partition=1, source_offset=40, event_ts_ms=123))
    again = TaskStats("t", bucket=10, points=3)
    again.load_state(json.loads(json.dumps(stats.state())))
    assert again.state() == stats.state()
    assert len(again.agreement) == 3 and again.agreement[0][0] == 29  # only the last 3 of 5 points kept
    assert again.alarms[0]["where"] == "distill.labeled[1]@40" and again.alarms[0]["t_ms"] == 123
    assert dict(again.alarm_counts) == {("agreement", "critical"): 1}
    # the open bucket (7 answers) continues where it stopped
    for i in range(3):
        again.on_teacher(agree=True, t_ms=100 + i, level=None)
        stats.on_teacher(agree=True, t_ms=100 + i, level=None)
    assert again.agreement[-1] == stats.agreement[-1] and again.agreement[-1][0] == 102


def test_counter_snapshots_keep_the_latest_per_worker_and_sum_workers() -> None:
    ops = Ops()
    ops.on_counters("w1", {"counts": {"t": {"teacher_calls": 5, "spend_usd": 0.5}}})
    ops.on_counters("w1", {"counts": {"t": {"teacher_calls": 8, "spend_usd": 0.75}}})
    ops.on_counters("w2", {"counts": {"t": {"teacher_calls": 2}, "u": {"labeled": 1}}})
    ops.on_counters("w3", {"counts": {"t": {"teacher_calls": 100}}})
    ops.on_counters("w3", None)  # tombstone: the key was deleted
    assert ops.outcomes() == {"t": {"teacher_calls": 10, "spend_usd": 0.75}, "u": {"labeled": 1}}


def test_prometheus_families_read_the_current_numbers() -> None:
    ops = Ops()
    stats = TaskStats("transactions", bucket=10)
    for _ in range(3):
        stats.on_inference("fuel", t_ms=0, distance=None)
    stats.on_teacher(agree=True, t_ms=0, level=0.9, cost_usd=0.01)
    stats.refresh({"agreement": 0.875, "input_length": 21.5, "category_mix": None}, {"agreement": 1}, 0)
    stats.on_alarm(DriftEvent(task="transactions", signal="agreement", detector="ADWIN", severity="warning"))
    ops.tasks["transactions"] = stats
    ops.invalid["not_json"] += 2
    ops.malformed["distill.review"] += 1
    ops.deadlettered_unknown = 4
    ops.lag[("inference.events", 3)] = 17
    ops.on_counters("w1", {"counts": {"transactions": {"teacher_calls": 6, "spend_usd": 0.125}}})
    text = generate_latest(registry_for(ops)).decode()
    lines = {ln for ln in text.splitlines() if not ln.startswith("#")}
    assert {
        'distillery_events_in_total{task="transactions"} 3.0',
        'distillery_events_invalid_total{reason="not_json"} 2.0',
        'distillery_malformed_messages_total{topic="distill.review"} 1.0',
        'distillery_deadlettered_total{task="transactions"} 0.0',
        'distillery_deadlettered_total{task="_unknown"} 4.0',
        'distillery_sampled_total{task="transactions"} 1.0',
        'distillery_teacher_calls_total{task="transactions"} 6.0',
        'distillery_teacher_spend_usd_total{task="transactions"} 0.125',
        'distillery_stream_outcomes_total{outcome="teacher_calls",task="transactions"} 6.0',
        'distillery_agreement_ratio{task="transactions"} 0.875',
        'distillery_signal_level{signal="input_length",task="transactions"} 21.5',
        'distillery_drift_alarms_total{severity="warning",signal="agreement",task="transactions"} 1.0',
        'distillery_monitors_consumer_lag{partition="3",topic="inference.events"} 17.0',
    } <= lines
    assert not any('signal="category_mix"' in ln for ln in lines)  # no level yet: no sample, not a fake 0
