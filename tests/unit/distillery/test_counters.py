"""``ops.counters`` keeps one key per worker, not one per restart (issue #13).

Before: the key held the pid and the start time, so every restart added a key to
the compacted topic for ever, and a restarted worker counted from zero under it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Any

import pytest

from distillery.counters import DAY_MS, Counters, fresh, merge, worker_id_for
from distillery.counters_topic import plan_retirement
from distillery.errors import ConfigError
from distillery.settings import load_settings

NOW = 100 * DAY_MS


def snap(role: str, updated_days: float, counts: dict[str, dict[str, float]]) -> dict[str, Any]:
    return {"role": role, "updated_ms": NOW - int(updated_days * DAY_MS), "counts": counts}


def test_the_key_is_the_role_and_a_stable_name(tmp_path: Path) -> None:
    assert Counters("streams").worker_id == f"streams/{socket.gethostname()}" == worker_id_for("streams")
    named = load_settings(env={"DISTILLERY_WORKER_NAME": "ingest-2"}).with_overrides(data_dir=tmp_path)
    assert Counters.for_settings("trainer", named).worker_id == "trainer/ingest-2"
    with pytest.raises(ConfigError, match="worker_name"):
        load_settings(env={"DISTILLERY_WORKER_NAME": "a/b"})


def test_processes_of_one_role_on_one_host_take_distinct_slots_and_a_restart_takes_its_back(tmp_path: Path) -> None:
    s = load_settings(env={}).with_overrides(data_dir=tmp_path)
    host = socket.gethostname()
    first, second = Counters.for_settings("streams", s), Counters.for_settings("streams", s)
    assert (first.worker_id, second.worker_id) == (f"streams/{host}", f"streams/{host}-1")
    assert Counters.for_settings("trainer", s).worker_id == f"trainer/{host}"  # slots are per role
    assert first._slot_lock is not None
    first._slot_lock.close()  # the first process exits; its restart gets its key back
    assert Counters.for_settings("streams", s).worker_id == f"streams/{host}"


def test_a_restarted_worker_goes_on_from_its_last_totals_once() -> None:
    c = Counters("streams", "streams/w")
    c.incr("t", "stored", 2)  # counting began before the read-back finished: both add up
    assert not c.resumed
    c.resume({"counts": {"t": {"stored": 5, "spend_usd": 0.25}, "u": {"deadlettered": 1, "odd": "x"}}})
    c.resume({"counts": {"t": {"stored": 100}}})  # only once
    assert c.resumed and c.snapshot()["counts"] == {"t": {"stored": 7, "spend_usd": 0.25}, "u": {"deadlettered": 1}}
    fresh_start = Counters("streams", "streams/x")
    fresh_start.resume(None)  # no key yet: nothing to add, and publishing may begin
    assert fresh_start.resumed and fresh_start.snapshot()["counts"] == {}


def test_freshness_follows_the_retention() -> None:
    assert fresh(snap("streams", 6.9, {}), now_ms=NOW, retention_days=7)
    assert not fresh(snap("streams", 7.1, {}), now_ms=NOW, retention_days=7)
    assert not fresh({"counts": {}}, now_ms=NOW, retention_days=7)  # no time: an old or foreign record
    assert fresh(snap("streams", 900, {}), now_ms=NOW, retention_days=0)


def test_stale_keys_are_folded_into_the_roles_retired_key_and_tombstoned() -> None:
    latest = {
        "streams/host-a/123/1700000000": snap("streams", 30, {"t": {"stored": 3}}),  # an old per-restart key
        "streams/b": snap("streams", 8, {"t": {"stored": 4, "review": 1}}),
        "streams/me": snap("streams", 40, {"t": {"stored": 100}}),  # this worker's own key: read back, not retired
        "streams/live": snap("streams", 1, {"t": {"stored": 50}}),
        "trainer/t1": snap("trainer", 10, {"t": {"jobs_promoted": 2}}),
        "gone/x": None,  # already a tombstone
        "streams/_retired": snap("streams", 60, {"t": {"stored": 10}}),  # never stale itself
    }
    retired, gone = plan_retirement(latest, own="streams/me", now_ms=NOW, retention_days=7)
    assert gone == ["streams/b", "streams/host-a/123/1700000000", "trainer/t1"]
    assert retired["streams/_retired"]["counts"] == {"t": {"stored": 17, "review": 1}}
    assert retired["trainer/_retired"]["counts"] == {"t": {"jobs_promoted": 2}}
    after = {**latest, **retired, **dict.fromkeys(gone)}
    live = [v for v in after.values() if v is not None]
    assert merge(live) == merge([v for v in latest.values() if v is not None])  # readers' totals unchanged
    assert sorted(k for k, v in after.items() if v is not None) == [
        "streams/_retired", "streams/live", "streams/me", "trainer/_retired"]
    assert plan_retirement(latest, own="streams/me", now_ms=NOW, retention_days=0) == ({}, [])


def test_a_key_is_never_counted_twice_and_absorbed_keys_are_forgotten_once_gone() -> None:
    latest: dict[str, Any] = {"streams/b": snap("streams", 8, {"t": {"stored": 4}})}
    retired, gone = plan_retirement(latest, own="streams/me", now_ms=NOW, retention_days=7)
    # the retired value was written, the tombstone not (a worker stopped between), or two started at once
    half = {**latest, **retired}
    again, gone_again = plan_retirement(half, own="streams/other", now_ms=NOW + 1, retention_days=7)
    assert gone_again == ["streams/b"] and again["streams/_retired"]["counts"] == {"t": {"stored": 4}}
    done = {**half, **again, "streams/b": None, "streams/c": snap("streams", 9, {"t": {"stored": 1}})}
    third, _ = plan_retirement(done, own="streams/me", now_ms=NOW + 2, retention_days=7)
    assert third["streams/_retired"]["counts"] == {"t": {"stored": 5}}
    assert third["streams/_retired"]["absorbed"] == {"streams/c": done["streams/c"]["updated_ms"]}


def test_seeded_restarts_and_retirements_keep_the_totals_and_bound_the_keys() -> None:
    rng = random.Random(13)
    topic: dict[str, Any] = {}  # the compacted topic: every key's latest value (None: tombstone)
    now = NOW
    expected = 0
    names = ["a", "b", "c"] + [f"pod-{i}" for i in range(20)]  # pods: new names after every restart
    for _ in range(60):
        now += rng.randint(0, 4) * DAY_MS
        name = rng.choice(names)
        c = Counters("streams", f"streams/{name}")
        c.resume(topic.get(c.worker_id))
        retired, gone = plan_retirement(topic, own=c.worker_id, now_ms=now, retention_days=7)
        topic.update(retired)
        topic.update(dict.fromkeys(gone))
        n = rng.randint(1, 9)
        c.incr("t", "stored", n)
        expected += n
        topic[c.worker_id] = {**c.snapshot(), "updated_ms": now}
        assert merge([v for v in topic.values() if v is not None]) == {"t": {"stored": expected}}
    live = sorted(k for k, v in topic.items() if v is not None)
    assert expected == 308 and live == ["streams/_retired", "streams/b", "streams/pod-11", "streams/pod-14", "streams/pod-3"]
