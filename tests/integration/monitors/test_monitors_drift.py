"""The monitors worker on the real broker: one alarm for one injected change, metrics and
the ops page, and detector state that survives a stop, a hard kill and a restart."""

from __future__ import annotations

import re
import time
from typing import Any

from monitors_support import (
    TASK,
    chromium_dom,
    drift_events,
    expected_monitor,
    inference_stream,
    labeled_stream,
    partition_of_task,
    produce,
    task_seen,
)

CHANGE_AT = 2000
CATEGORIES = ["fuel", "groceries", "coffee_shops", "restaurants", "pharmacy"]


def test_agreement_drop_raises_exactly_one_alarm_after_the_change(kafka_settings, start_monitors) -> None:
    s = kafka_settings()
    labeled = labeled_stream(seed=0, n_before=CHANGE_AT, n_after=1500)
    traffic = inference_stream(seed=0, n=1000)
    _, expected = expected_monitor({s.topics.labeled: labeled, s.topics.inference: traffic})
    assert [(a.signal, a.source_offset) for a in expected] == [("agreement", 2047)]  # the seeded stream's truth

    worker = start_monitors(s)
    produce(s, s.topics.inference, traffic)
    produce(s, s.topics.labeled, labeled)
    state = worker.wait_for("every record", lambda st: task_seen(st, "agreement") == len(labeled)
                            and task_seen(st, "input_length") == len(traffic))

    got = drift_events(s)
    assert len(got) == 1, got
    alarm, want = got[0], expected[0]
    assert (alarm.task, alarm.signal, alarm.detector, alarm.drift_id) == (TASK, "agreement", "ADWIN", want.drift_id)
    assert alarm.source_topic == s.topics.labeled and alarm.source_partition == partition_of_task()
    assert alarm.source_offset is not None and alarm.source_offset >= CHANGE_AT
    assert alarm.estimate_before == want.estimate_before and alarm.estimate_after == want.estimate_after
    assert alarm.severity == "critical" and alarm.estimate_after is not None and alarm.estimate_after < 0.8

    # ops JSON: one point per 100 answers / answered requests, the alarm listed
    task = state["tasks"][TASK]
    assert len(task["agreement"]) == len(labeled) // 100 and len(task["categories"]) == len(traffic) // 100
    assert [a["drift_id"] for a in task["alarms"]] == [want.drift_id]
    assert task["counts"]["events_in"] == len(traffic) and task["counts"]["sampled"] == len(labeled)

    metrics = worker.metrics()
    assert f'distillery_events_in_total{{task="{TASK}"}} {float(len(traffic))}' in metrics
    assert f'distillery_sampled_total{{task="{TASK}"}} {float(len(labeled))}' in metrics
    assert (f'distillery_drift_alarms_total{{severity="critical",signal="agreement",task="{TASK}"}} 1.0'
            in metrics)
    lag = re.findall(r'distillery_monitors_consumer_lag\{partition="\d",topic="[^"]+"\} (\S+)', metrics)
    assert len(lag) == 7 * s.kafka.partitions and {float(v) for v in lag} == {0.0}
    agreement = float(re.search(rf'distillery_agreement_ratio{{task="{TASK}"}} (\S+)', metrics).group(1))  # type: ignore[union-attr]
    assert 0.6 < agreement < 0.8

    # the ops page, rendered by a real browser, draws every point and the alarm
    dom = chromium_dom(f"http://127.0.0.1:{worker.web_port}/?refresh=60")
    assert 'data-refreshes="1"' in dom
    assert dom.count('class="pt agreement-pt"') == len(labeled) // 100
    assert re.search(r'data-chart="categories" data-points="10"', dom)
    assert sorted(re.findall(r'class="cat-area" data-category="([^"]+)" data-n="10"', dom)) == sorted(CATEGORIES)
    assert dom.count('class="alarm-dot critical"') == 1 and dom.count('class="alarm-row"') == 1
    # which reference each signal compares with (no adapter here: the category mix warmed up on the traffic)
    assert re.search(r'class="dim references">Compared with [^<]*warm-up: unseen_token_share, category_mix, new_category',
                     dom)
    assert state["tasks"][TASK]["references"]["agreement"] == "live window"
    assert worker.proc.poll() is None


def test_restart_keeps_detector_state_and_does_not_alarm_again(kafka_settings, start_monitors) -> None:
    s = kafka_settings()
    labeled = labeled_stream(seed=0, n_before=CHANGE_AT, n_after=1500)
    uninterrupted, expected = expected_monitor({s.topics.labeled: labeled})
    assert len(expected) == 1

    # phase 1: through the change and its alarm, then a graceful stop (SIGTERM) while the stream goes on
    first = start_monitors(s)
    produce(s, s.topics.labeled, labeled[:2600])
    first.wait_for("2600 answers", lambda st: task_seen(st, "agreement") == 2600)
    first.proc.terminate()
    assert first.proc.wait(30) == 0, first.log()[-3000:]
    assert "monitors worker stopped" in first.log()
    produce(s, s.topics.labeled, labeled[2600:3100])

    # phase 2: the restarted worker continues from the checkpoint; then it is killed outright
    second = start_monitors(s)
    st = second.wait_for("3100 answers", lambda st: task_seen(st, "agreement") == 3100)
    assert "restored detectors from the checkpoint" in second.log()
    assert len(st["tasks"][TASK]["agreement"]) == 31  # chart history survived too
    second.proc.kill()
    second.proc.wait(10)
    produce(s, s.topics.labeled, labeled[3100:])

    # phase 3: after a hard kill the last checkpoint plus redelivery give exactly the uninterrupted state
    third = start_monitors(s)
    st = third.wait_for("every answer", lambda st: task_seen(st, "agreement") == len(labeled), timeout_s=50)
    assert st["tasks"][TASK]["levels"]["agreement"] == uninterrupted.levels()["agreement"]
    assert st["tasks"][TASK]["events_seen"]["teacher_rejection"] == len(labeled)

    got = drift_events(s)
    assert {a.drift_id for a in got} == {expected[0].drift_id}
    assert len(got) == 1, [(a.signal, a.source_offset) for a in got]


def test_a_second_worker_takes_a_share_and_the_task_keeps_its_state(kafka_settings, start_monitors) -> None:
    s = kafka_settings()
    labeled = labeled_stream(seed=0, n_before=CHANGE_AT, n_after=1500)
    uninterrupted, expected = expected_monitor({s.topics.labeled: labeled})

    first = start_monitors(s)
    produce(s, s.topics.labeled, labeled[:1500])
    first.wait_for("1500 answers", lambda st: task_seen(st, "agreement") == 1500)
    second = start_monitors(s)  # joins the group: a rebalance splits the partitions between the two
    deadline = time.monotonic() + 90
    while not ("monitoring" in second.log() and first.log().count("monitoring") >= 2):
        assert time.monotonic() < deadline, f"no rebalance:\n{first.log()[-2000:]}\n{second.log()[-2000:]}"
        time.sleep(0.3)
    produce(s, s.topics.labeled, labeled[1500:])

    def owner_done() -> dict[str, Any] | None:
        states = [w.state() for w in (first, second)]
        owners = [st for st in states if TASK in st["tasks"]]
        assert len(owners) == 1, "a task must live in exactly one worker"
        return owners[0] if task_seen(owners[0], "agreement") == len(labeled) else None

    deadline = time.monotonic() + 90
    while (st := owner_done()) is None:
        assert time.monotonic() < deadline, f"{first.log()[-2000:]}\n{second.log()[-2000:]}"
        time.sleep(0.3)
    assert st["tasks"][TASK]["levels"]["agreement"] == uninterrupted.levels()["agreement"]
    got = drift_events(s)
    assert [a.drift_id for a in got] == [expected[0].drift_id]
