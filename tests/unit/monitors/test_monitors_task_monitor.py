"""A task's monitor: quiet when nothing moves, one event per shift, and a restart that neither forgets nor re-alarms."""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from distillery.errors import InvalidInputError
from distillery.events import DeadLetter, DriftEvent, InferenceEvent, LabeledExample, ReviewItem
from monitors.alarm import Position
from monitors.task_monitor import TaskMonitor

TASK = "transactions"
WORDS = [f"shop{c}{d}" for c in "abcdefghij" for d in "klmnopqrst"]
CATS = [f"cat{i:02d}" for i in range(20)]
WEIGHTS = [1.0 / (i + 1) for i in range(20)]
VOCAB = {w for w in WORDS[:90]} | {"sq"}


def _text(rng: random.Random) -> str:
    words = " ".join(rng.choice(WORDS).upper() for _ in range(rng.randint(1, 3)))
    return f"SQ *{words} #{rng.randint(10, 9999)}"


def _feed(mon: TaskMonitor, seed: int, n: int, *, start: int = 0, agree_p: float = 0.95,
          agree_from: int | None = None) -> list[tuple[int, DriftEvent]]:
    """``n`` served events (offsets ``start``...), every fifth also labeled by the teacher.

    From offset ``agree_from`` on, the student agrees with the teacher with ``agree_p``, else 95%.
    """
    rng = random.Random(seed)
    out: list[tuple[int, DriftEvent]] = []
    for off in range(start, start + n):
        text, cat, conf = _text(rng), rng.choices(CATS, WEIGHTS)[0], rng.betavariate(9, 1)
        out += [(off, e) for e in mon.observe_input(
            text, category=cat, confidence=conf, position=Position("inference.events", 0, off))]
        if off % 5 == 0:
            p = agree_p if agree_from is not None and off >= agree_from else 0.95
            out += [(off, e) for e in mon.observe_teacher(
                rejected=rng.random() < 0.05, agree=rng.random() < p, position=Position("distill.labeled", 0, off))]
    return out


def _strip(events: list[tuple[int, DriftEvent]]) -> list[tuple[int, dict[str, Any]]]:
    return [(off, e.model_dump(exclude={"detected_at_ms"})) for off, e in events]


def test_no_drift_event_on_a_long_stationary_stream() -> None:
    mon = TaskMonitor(TASK, vocabulary=VOCAB)
    assert _feed(mon, seed=1, n=60_000) == []
    seen = {name: s.events_seen for name, s in mon.signals.items()}
    assert seen["input_length"] == seen["category_mix"] == seen["dead_letter"] == 60_000
    assert seen["agreement"] == seen["teacher_rejection"] == 12_000


def test_an_agreement_fall_gives_exactly_one_drift_event() -> None:
    mon = TaskMonitor(TASK, vocabulary=VOCAB)
    events = _feed(mon, seed=2, n=40_000, agree_p=0.85, agree_from=20_000)
    assert [(off, e.signal) for off, e in events] == [(22_555, "agreement")]
    ev = events[0][1]
    assert (ev.task, ev.detector, ev.severity, ev.events_seen, ev.source_topic, ev.source_offset) == (
        TASK, "ADWIN", "warning", 4512, "distill.labeled", 22_555)
    assert ev.estimate_before == pytest.approx(0.9504, abs=1e-4)
    assert ev.estimate_after == pytest.approx(0.8697, abs=1e-4)


def test_restored_monitor_continues_without_re_alarming() -> None:
    live = TaskMonitor(TASK, vocabulary=VOCAB)
    first = _feed(live, seed=3, n=23_000, agree_p=0.85, agree_from=20_000)
    assert [(off, e.signal) for off, e in first] == [(21_275, "agreement")]
    checkpoint = live.to_bytes()

    restored = TaskMonitor.from_bytes(checkpoint)
    # Kafka redelivers what was not committed: offsets already seen are skipped, so no second alarm
    assert _feed(restored, seed=3, n=23_000, agree_p=0.85, agree_from=20_000) == []
    # from there both continue identically: quiet at the new level, then one event for the next fall
    rest_live = _feed(live, seed=4, n=20_000, start=23_000, agree_p=0.70, agree_from=33_000)
    rest_restored = _feed(restored, seed=4, n=20_000, start=23_000, agree_p=0.70, agree_from=33_000)
    assert [(off, e.signal) for off, e in rest_live] == [(33_755, "agreement")]
    assert _strip(rest_live) == _strip(rest_restored)
    assert restored.signals["agreement"].events_seen == live.signals["agreement"].events_seen == 8_600


def test_replay_from_an_earlier_checkpoint_names_the_same_drift() -> None:
    live = TaskMonitor(TASK, vocabulary=VOCAB)
    _feed(live, seed=5, n=20_000)
    state = live.state_dict()
    after = _feed(live, seed=6, n=5_000, start=20_000, agree_p=0.80, agree_from=20_000)
    again = TaskMonitor(TASK)
    again.load_state(state)
    replay = _feed(again, seed=6, n=5_000, start=20_000, agree_p=0.80, agree_from=20_000)
    assert len(after) == 1 and _strip(after) == _strip(replay)


def test_state_dict_is_a_snapshot_and_pickles() -> None:
    mon = TaskMonitor(TASK, vocabulary=VOCAB)
    _feed(mon, seed=7, n=1_000)
    state = mon.state_dict()
    _feed(mon, seed=8, n=1_000, start=1_000)
    assert state["signals"]["input_length"].events_seen == 1_000
    assert state["offsets"] == {("inference.events", 0): 999, ("distill.labeled", 0): 995}
    assert pickle.loads(pickle.dumps(state))["task"] == TASK


def test_restore_keeps_the_running_cooldown_setting() -> None:
    mon = TaskMonitor(TASK, cooldown_events=500)
    restored = TaskMonitor.from_bytes(TaskMonitor(TASK, cooldown_events=9000).to_bytes(), cooldown_events=500)
    assert restored.gate.cooldown_events == mon.gate.cooldown_events == 500


@pytest.mark.parametrize(
    ("state", "match"),
    [({"format": 2, "task": "other"}, "the state belongs to 'other', not 'transactions'"),
     ({"format": 99, "task": TASK}, "expected monitor state format 2, got 99")],
)
def test_load_state_refuses_a_foreign_checkpoint(state: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        TaskMonitor(TASK).load_state(state)


def test_from_bytes_refuses_something_else() -> None:
    with pytest.raises(InvalidInputError, match="not a TaskMonitor checkpoint"):
        TaskMonitor.from_bytes(pickle.dumps([1, 2]))


def test_observe_routes_each_record_to_its_signals() -> None:
    mon = TaskMonitor(TASK, vocabulary=VOCAB)
    sigs = mon.signals
    mon.observe(InferenceEvent(event_id="e1", task=TASK, input="SQ *SHOPAK #12", output="Cat01 ", confidence=0.9))
    assert mon.category_mix._warm == {"cat01": 1}  # warming up: no adapter yet
    assert sigs["confidence"].estimate == pytest.approx(0.9)
    assert sigs["unseen_token_share"].estimate == 0.0
    mon.observe(LabeledExample(event_id="e1", task=TASK, input="x", label="cat01", source="teacher",
                               student_output="CAT01"))
    mon.observe(LabeledExample(event_id="e2", task=TASK, input="x", label="cat02", source="teacher",
                               student_output="cat01"))
    mon.observe(LabeledExample(event_id="e3", task=TASK, input="x", label="cat02", source="router_escalation",
                               student_output="cat01"))
    mon.observe(LabeledExample(event_id="e4", task=TASK, input="x", label="cat02", source="ground_truth"))
    assert (sigs["agreement"].events_seen, sigs["agreement"].estimate) == (2, 0.5)
    mon.observe(ReviewItem(event_id="e5", task=TASK, input="x", reason="low confidence"))
    assert (sigs["teacher_rejection"].events_seen, sigs["teacher_rejection"].estimate) == (4, 0.25)
    mon.observe(DeadLetter(task=TASK, reason="bad json", source_topic="inference.events", source_partition=0,
                           source_offset=9, original_b64=""))
    assert (sigs["dead_letter"].events_seen, sigs["dead_letter"].estimate) == (2, 0.5)


def test_observe_refuses_another_tasks_record() -> None:
    with pytest.raises(InvalidInputError, match="this monitor watches 'transactions', got a record for 'other'"):
        TaskMonitor(TASK).observe(InferenceEvent(event_id="e1", task="other", input="x"))


def test_new_vocabulary_and_category_reference_take_effect() -> None:
    mon = TaskMonitor(TASK)
    mon.observe_input("SQ *SHOPAK")
    assert mon.signals["unseen_token_share"].events_seen == 0
    mon.set_vocabulary({"sq"})
    mon.observe_input("SQ *SHOPAK")
    assert mon.levels()["unseen_token_share"] == 0.5
    mon.set_category_reference({"cat00": 900, "cat01": 100})
    assert mon.category_mix.reference == {"cat00": 900.0, "cat01": 100.0}
    assert mon.references()["category_mix"] == mon.references()["new_category"] == "given"
