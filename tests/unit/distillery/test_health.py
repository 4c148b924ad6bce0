"""Readiness rules, the lag a consumer reports, and the health server the streams and trainer workers start."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from distillery.health import HealthServer, Readiness, consumer_lag, judge


def test_ready_means_joined_and_caught_up_enough() -> None:
    cases = [
        (dict(joined=False, partitions=0, lag=None), False, "not yet a member of its consumer group (no assignment)"),
        (dict(joined=True, partitions=0, lag=None), True, "joined, no partition assigned (a spare replica)"),
        (dict(joined=True, partitions=3, lag=None), False, "the ends of its 3 partitions are not known yet"),
        (dict(joined=True, partitions=3, lag=101), False,
         "101 messages behind the ends of 3 partitions (ready at 100 or fewer)"),
        (dict(joined=True, partitions=3, lag=100), True, "caught up: 100 messages behind over 3 partitions"),
    ]
    for kwargs, ready, reason in cases:
        got = judge(max_lag=100, **kwargs)  # type: ignore[arg-type]
        assert (got.ready, got.reason) == (ready, reason)
        assert got.detail == {"partitions": kwargs["partitions"], "lag": kwargs["lag"], "max_lag": 100}


class FakeConsumer:
    def __init__(self, ends: dict[int, int | None], positions: dict[int, int | Exception | None]) -> None:
        self.ends, self.positions = ends, positions

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", p) for p in self.ends}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends[tp.partition]

    async def position(self, tp: TopicPartition) -> int:
        got = self.positions[tp.partition]
        if got is None:  # no position yet: aiokafka waits for one
            await asyncio.Event().wait()
        if isinstance(got, Exception):
            raise got
        return int(got)  # type: ignore[arg-type]


async def test_lag_sums_the_partitions_and_is_unknown_until_every_end_and_position_is() -> None:
    assert await consumer_lag(FakeConsumer({0: 50, 1: 7}, {0: 40, 1: 7})) == (2, 10)  # type: ignore[arg-type]
    assert await consumer_lag(FakeConsumer({0: 50, 1: None}, {0: 40, 1: 0})) == (2, None)  # type: ignore[arg-type]
    revoked = FakeConsumer({0: 50}, {0: IllegalStateError("partition is not assigned")})
    assert await consumer_lag(revoked) == (1, None)  # type: ignore[arg-type]
    assert await consumer_lag(FakeConsumer({}, {})) == (0, 0)  # type: ignore[arg-type]
    waiting = FakeConsumer({0: 50, 1: 9}, {0: 40, 1: None})  # type: ignore[dict-item]
    assert await consumer_lag(waiting, timeout_s=0.05) == (2, None)  # type: ignore[arg-type]


def _get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def test_the_health_server_answers_liveness_and_readiness() -> None:
    state = [Readiness(False, "not yet a member of the trainer group (no assignment)")]

    async def ready() -> Readiness:
        return state[0]

    server = HealthServer(ready, name="trainer")
    port = await server.start("127.0.0.1", 0)
    try:
        assert await asyncio.to_thread(_get, port, "/healthz") == (200, {"status": "ok"})
        assert await asyncio.to_thread(_get, port, "/readyz") == (503, {
            "ready": False, "reason": "not yet a member of the trainer group (no assignment)", "detail": {}})
        state[0] = Readiness(True, "joined; 0 job(s) queued", {"queued_jobs": 0})
        assert await asyncio.to_thread(_get, port, "/readyz") == (200, {
            "ready": True, "reason": "joined; 0 job(s) queued", "detail": {"queued_jobs": 0}})
        with pytest.raises(urllib.error.HTTPError) as err:
            await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert err.value.code == 404  # health only
    finally:
        await server.close()
