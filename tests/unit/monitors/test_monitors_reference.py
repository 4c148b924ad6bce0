"""Drift measured against the serving adapter's training data from the first event (issue #17).

Each test runs a whole :class:`TaskMonitor` on a seeded stream and asserts the
exact alarms its gate lets through: which signal, at which event.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from distillery.events import AdapterControl, AdapterPublished, DriftEvent, GateMetrics, ModelScores
from monitors.alarm import Position
from monitors.reference import Reference, reference_from_rows
from monitors.task_monitor import TaskMonitor

TASK = "intents"
FIVE = ["fuel", "groceries", "coffee", "restaurants", "pharmacy"]
BEFORE = [30, 25, 20, 15, 10]
AFTER = [15, 25, 20, 15, 25]  # 15 points of the mix move from fuel to pharmacy
INTENTS = [f"intent{i:02d}" for i in range(77)]
LONG_TAIL = [1.0 / (i + 1) ** 0.8 for i in range(77)]


def _adapter(i: int, task: str = TASK) -> AdapterPublished:
    return AdapterPublished(task=task, adapter_id=f"a{i}", job_id=f"j{i}", uri="/x", sha256="0" * 64,
                            base_model="b", student_prompt="", snapshot_uri=f"file:///snap{i}.parquet",
                            metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))


def _snapshot(seed: int, cats: Sequence[str], weights: Sequence[float], n: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [{"input": f"order {c}", "category": c, "split": "train" if i % 5 else "eval"}
            for i, c in enumerate(rng.choices(cats, weights, k=n))]


def _run(mon: TaskMonitor, cats: list[str], start: int = 0) -> list[tuple[str, int]]:
    """Feed answers (one per event, same input text); the alarms as (signal, event index)."""
    alarms: list[DriftEvent] = []
    for i, c in enumerate(cats, start=start):
        alarms += mon.observe_input(f"order {c}", category=c, position=Position("inference.events", 0, i))
    return [(a.signal, a.source_offset or 0) for a in alarms]


def _category_alarms(got: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return [a for a in got if a[0] in ("category_mix", "new_category")]


def test_a_change_at_event_500_with_no_adapter_fires_once_after_it() -> None:
    rng = random.Random(1)
    mon = TaskMonitor(TASK)
    got = _run(mon, rng.choices(FIVE, BEFORE, k=500) + rng.choices(FIVE, AFTER, k=2500))
    assert _category_alarms(got) == [("category_mix", 799)]
    assert mon.references()["category_mix"] == "warm-up"
    assert mon.category_mix.detail()["moved"][0]["category"] in ("fuel", "pharmacy")


def test_a_change_right_after_a_retrain_fires_once_after_it() -> None:
    rng = random.Random(2)
    mon = TaskMonitor(TASK)
    mon.apply_adapter_record(_adapter(1))
    mon.set_reference(reference_from_rows("adapter a1", _snapshot(3, FIVE, BEFORE, 2000)), adapter_id="a1")
    assert mon.references()["category_mix"] == "adapter a1 (snapshot labels)"  # no traffic seen yet
    # the mix moves at 2,000 (one alarm); a retrain on the moved traffic serves at 3,500
    got = _run(mon, rng.choices(FIVE, BEFORE, k=2000) + rng.choices(FIVE, AFTER, k=1500))
    assert mon.apply_adapter_record(_adapter(2)) is not None
    mon.set_reference(reference_from_rows("adapter a2", _snapshot(4, FIVE, AFTER, 2000)), adapter_id="a2")
    assert mon.references()["category_mix"] == "adapter a2 (its traffic)"
    # 500 events after the retrain the mix moves back: one alarm after that, none before
    got += _run(mon, rng.choices(FIVE, AFTER, k=500) + rng.choices(FIVE, BEFORE, k=2500), start=3500)
    assert _category_alarms(got) == [("category_mix", 2199), ("category_mix", 4199)]


def test_the_reference_switches_on_publish_and_survives_a_restart_without_re_alarming() -> None:
    rng = random.Random(5)
    mon = TaskMonitor(TASK)
    assert mon.references()["category_mix"] == "none"
    chosen = mon.apply_adapter_record(_adapter(1))
    assert chosen is not None and chosen.adapter_id == "a1"
    mon.set_reference(reference_from_rows("adapter a1", _snapshot(6, FIVE, BEFORE, 1500)), adapter_id="a1")
    assert mon.apply_adapter_record(_adapter(1)) is None  # redelivered: nothing to load again
    assert mon.references()["category_mix"] == "adapter a1 (snapshot labels)"
    assert mon.references()["unseen_token_share"] == "adapter a1"
    assert mon.references()["input_length"] == "live window"
    got = _run(mon, rng.choices(FIVE, BEFORE, k=1000) + rng.choices(FIVE, AFTER, k=1000))
    assert _category_alarms(got) == [("category_mix", 1299)]

    restored = TaskMonitor.from_bytes(mon.to_bytes())
    assert restored.references() == mon.references() and restored.reference_adapter == "a1"
    assert restored.apply_adapter_record(_adapter(1)) is None
    # the moved traffic goes on: the episode carries over, no second alarm
    assert _category_alarms(_run(restored, rng.choices(FIVE, AFTER, k=3000), start=2000)) == []

    # a rollback to nothing older keeps a1; a new adapter's data takes over and ends the episode
    restored.apply_adapter_record(AdapterControl(task=TASK, action="rollback"))
    assert restored.apply_adapter_record(_adapter(2)) is not None
    restored.set_reference(reference_from_rows("adapter a2", _snapshot(7, FIVE, AFTER, 1500)), adapter_id="a2")
    assert restored.category_mix.alarmed is False and "category_mix" not in restored.gate.episodes
    assert restored.references()["new_category"] == "adapter a2 (its traffic)"


def test_77_intents_with_10_held_back_fire_within_1000_events() -> None:
    rng = random.Random(8)
    kept, held = INTENTS[:67], INTENTS[67:]
    mon = TaskMonitor(TASK)
    mon.set_reference(reference_from_rows("adapter a1", _snapshot(9, kept, LONG_TAIL[:67], 3000)), adapter_id="a1")
    before = rng.choices(kept, LONG_TAIL[:67], k=1000)
    # the ten held-back intents arrive and make up a quarter of the traffic
    after = [rng.choice(held) if rng.random() < 0.25 else rng.choices(kept, LONG_TAIL[:67])[0] for _ in range(2000)]
    got = _category_alarms(_run(mon, before + after))
    assert got == [("new_category", 1199), ("category_mix", 1223)]
    named = [d["category"] for d in mon.new_category.detail()["new"]]
    assert set(named[:5]) <= set(held) and len(set(named) & set(held)) >= 8, named


def test_77_intents_with_10_held_back_fire_within_1000_events_with_no_adapter() -> None:
    rng = random.Random(10)
    kept, held = INTENTS[:67], INTENTS[67:]
    before = rng.choices(kept, LONG_TAIL[:67], k=1000)
    after = [rng.choice(held) if rng.random() < 0.25 else rng.choices(kept, LONG_TAIL[:67])[0] for _ in range(2000)]
    got = _category_alarms(_run(TaskMonitor(TASK), before + after))
    assert got == [("new_category", 1194), ("category_mix", 1400)]


def test_stationary_traffic_from_the_snapshots_own_mix_never_fires() -> None:
    for seed, cats, weights, size in ((11, INTENTS, LONG_TAIL, 500), (12, FIVE, BEFORE, 500),
                                      (13, INTENTS, LONG_TAIL, 5000)):
        snapshot = _snapshot(seed, cats, weights, size)
        mix = Counter(r["category"] for r in snapshot)
        mon = TaskMonitor(TASK)
        mon.set_reference(reference_from_rows("adapter a1", snapshot), adapter_id="a1")
        rng = random.Random(seed + 100)
        traffic = rng.choices(list(mix), list(mix.values()), k=60_000)
        assert _category_alarms(_run(mon, traffic)) == [], (seed, size)


def test_new_categories_arriving_one_at_a_time_are_each_named() -> None:
    rng = random.Random(14)
    mon = TaskMonitor(TASK)
    mon.set_reference(reference_from_rows("adapter a1", _snapshot(15, FIVE, BEFORE, 2000)), adapter_id="a1")
    stream = rng.choices(FIVE, BEFORE, k=1000)
    stream += rng.choices(FIVE + ["refunds"], BEFORE + [12], k=1000)
    stream += rng.choices(FIVE + ["refunds", "chargebacks"], BEFORE + [12, 12], k=1000)
    got = [a for a in _run(mon, stream) if a[0] == "new_category"]
    assert got == [("new_category", 1199), ("new_category", 2399)]
    assert [d["category"] for d in mon.new_category.detail()["new"]] == ["refunds", "chargebacks"]


def test_unseen_words_are_measured_against_the_adapters_vocabulary_and_named_redacted() -> None:
    rng = random.Random(16)
    words = [f"shop{c}" for c in "abcdefghij"]
    train = [" ".join(rng.choices(words, k=3)) for _ in range(400)]
    mon = TaskMonitor(TASK)
    mon.redact = lambda text: text.replace("jane@mail.com", "[EMAIL]")
    mon.set_reference(Reference("adapter a1", {}, frozenset(" ".join(train).split())), adapter_id="a1")
    alarms: list[DriftEvent] = []
    for i in range(1500):
        text = " ".join(rng.choices(words, k=3))
        if i >= 500:
            text += " zelle transfer jane@mail.com"
        alarms += mon.observe_input(text, position=Position("inference.events", 0, i))
    unseen = [a for a in alarms if a.signal == "unseen_token_share"]
    assert [a.source_offset for a in unseen] == [543]
    assert unseen[0].estimate_before == 0.0 and unseen[0].detail["reference"] == "adapter a1"
    assert unseen[0].estimate_after is not None and unseen[0].estimate_after > 0.3
    assert [w["word"] for w in unseen[0].detail["new_words"]] == ["zelle", "transfer"]


def test_low_volume_windows_close_by_event_time() -> None:
    rng = random.Random(17)
    mon = TaskMonitor(TASK)
    mon.set_reference(reference_from_rows("adapter a1", _snapshot(18, FIVE, BEFORE, 2000)), adapter_id="a1")
    day = 86_400_000
    cats = rng.choices(FIVE, BEFORE, k=500) + rng.choices(FIVE, AFTER, k=1500)
    alarms: list[DriftEvent] = []
    for i, c in enumerate(cats):  # 40 answers a day: a window of 100 answers would take 2.5 days
        ts = i * day // 40
        alarms += mon.observe_input("order", category=c, position=Position("inference.events", 0, i),
                                    event_ts_ms=ts)
        if i == 39:
            assert mon.category_mix._windows is not None and mon.category_mix._windows.n == 40
        if i == 40:  # a day has passed: the window closed by time, with 41 answers
            assert mon.category_mix._windows is not None and mon.category_mix._windows.n == 0
    got = [(a.signal, a.source_offset) for a in alarms if a.signal in ("category_mix", "new_category")]
    assert got == [("category_mix", 737)]  # 237 answers (six days) after the change at 500


def test_an_adapter_published_on_too_little_seen_traffic_warms_up_its_own_reference() -> None:
    rng = random.Random(19)
    mon = TaskMonitor(TASK)
    _run(mon, rng.choices(FIVE, BEFORE, k=120))  # fewer answers than a warm-up: no traffic mix to trust
    assert mon.category_mix.traffic_mix() is None
    mon.set_reference(reference_from_rows("adapter a1", _snapshot(20, FIVE, AFTER, 2000)), adapter_id="a1")
    assert mon.references()["category_mix"] == "none"  # warming up on the traffic the adapter now serves
    got = _run(mon, rng.choices(FIVE, BEFORE, k=400), start=120)
    assert mon.references()["category_mix"] == mon.references()["new_category"] == "warm-up after adapter a1"
    assert _category_alarms(got) == []
