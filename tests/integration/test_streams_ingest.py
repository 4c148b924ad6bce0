"""The streams worker, on the real broker: bad input is dead-lettered with its
reason, source and original bytes; good input is counted; nothing crashes it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

from aiokafka import AIOKafkaProducer

from devkit.sim.teacher_server import SimTeacherServer
from distillery.events import DeadLetter
from distillery.kafka import read_topic

GOOD = [json.dumps({"event_id": f"ok-{i}", "task": "transactions", "input": f"SHELL OIL {i} AUSTIN TX"}).encode()
        for i in range(20)]
BAD = {
    b"\xff\xfe\x00": "not_utf8",
    b"{truncated": "not_json",
    json.dumps({"event_id": "b1", "task": "transactions", "input": 7}).encode(): "invalid",
    json.dumps({"event_id": "b2", "task": "no-such-task", "input": "x"}).encode(): "unknown_task",
    json.dumps({"event_id": "b3", "task": "transactions", "input": "x" * (1024 * 1024 + 10)}).encode(): "too_large",
    b'{"a":' * 100 + b"1" + b"}" * 100: "too_deep",
}


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8 * 1024 * 1024)
    await p.start()
    try:
        for v in values:
            await p.send_and_wait(topic, v, key=b"transactions")
    finally:
        await p.stop()


TERMINAL = ("labeled", "review", "rejected", "skip_rate", "skip_duplicate", "skip_budget", "gold", "pending_batch")


def test_ingest_dead_letters_bad_events_and_counts_good_ones(kafka_settings, spawn_worker) -> None:
    s = kafka_settings()
    server = SimTeacherServer()
    with server.run_in_thread() as teacher:
        _run(s, spawn_worker(s, "streams", OPENAI_BASE_URL=teacher.base_url))


def _run(s, worker) -> None:  # type: ignore[no-untyped-def]
    values = GOOD[:10] + list(BAD) + GOOD[10:]
    asyncio.run(_produce(s.kafka.bootstrap_servers, s.topics.inference, values))

    records = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.deadletter, expect=len(BAD), timeout_s=90))
    letters = [DeadLetter.model_validate_json(r.value) for r in records if r.value]
    assert worker.poll() is None, open(worker.log_path).read()[-3000:]
    assert sorted(dl.reason for dl in letters) == sorted(BAD.values())
    by_digest = {hashlib.sha256(b).hexdigest(): (b, reason) for b, reason in BAD.items()}
    for dl in letters:
        digest = dl.original_sha256 if dl.original_truncated else hashlib.sha256(dl.original()).hexdigest()
        original, reason = by_digest[digest or ""]
        assert reason == dl.reason and original.startswith(dl.original())  # whole, or its first bytes past 256 KiB
        assert dl.source_topic == s.topics.inference and dl.source_offset >= 0 and dl.problems
    by_reason = {dl.reason: dl for dl in letters}
    assert by_reason["invalid"].problems == ["input: expected string or list of messages, got int"]
    assert by_reason["invalid"].task == "transactions" and by_reason["invalid"].event_id == "b1"
    assert by_reason["unknown_task"].task == "_unknown"

    # counters: every good event counted as valid, every bad one as dead-lettered
    deadline = time.monotonic() + 30
    counts: dict[str, dict[str, float]] = {}
    while time.monotonic() < deadline:
        snaps = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.counters, idle_s=1.0, timeout_s=5))
        if snaps:
            counts = json.loads(snaps[-1].value or b"{}")["counts"]
            if sum(counts.get("transactions", {}).get(k, 0) for k in TERMINAL) == len(GOOD):
                break
        time.sleep(1)
    # every good event has exactly one terminal outcome
    assert sum(counts["transactions"].get(k, 0) for k in TERMINAL) == len(GOOD)
    # only the invalid-but-readable event keeps its task; the rest are filed under _unknown
    assert counts["transactions"]["deadlettered"] == 1
    assert counts["_unknown"] == {"deadlettered": len(BAD) - 1}
    assert worker.poll() is None
