"""A worker's start on ``ops.counters``: read its totals back, retire the keys of workers long gone.

Every key is a worker (``ROLE/NAME``, :mod:`distillery.counters`). At start a
worker reads the compacted topic to its end (:func:`read_latest`), adds its own
key's last counts to its counters, and *retires* every key no one updated for
``counters_retention_days``: that key's counts are added to the role's
``ROLE/_retired`` key, then the key is tombstoned, so compaction removes it
while every reader's totals (the sum of all keys' latest values) stay the same.

The retired value lists the keys it absorbed with their ``updated_ms``, so two
workers starting at once, or one that stopped between the two writes, never
count a key twice; an entry is dropped from that list once its key is gone.

>>> from distillery.counters import DAY_MS
>>> latest = {"streams/a": {"role": "streams", "updated_ms": 0, "counts": {"t": {"stored": 2}}},
...           "streams/b": {"role": "streams", "updated_ms": 9 * DAY_MS, "counts": {"t": {"stored": 5}}}}
>>> retired, gone = plan_retirement(latest, own="streams/c", now_ms=10 * DAY_MS, retention_days=7)
>>> gone, retired["streams/_retired"]["counts"], retired["streams/_retired"]["absorbed"]
(['streams/a'], {'t': {'stored': 2}}, {'streams/a': 0})
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import TopicPartition

from distillery.counters import Counters, count_items, fresh
from distillery.errors import BrokerUnavailableError
from distillery.kafka import consumer, topic_partitions
from distillery.settings import Settings

log = logging.getLogger("distillery.counters")

RETIRED = "_retired"
"""The name of each role's key that holds the counts of its retired workers."""

Send = Callable[[str, bytes | None], Awaitable[Any]]
"""``send(key, value)``: write one record on ``ops.counters`` (``None``: a tombstone) and wait for it."""


def is_retired_key(key: str) -> bool:
    return key.rsplit("/", 1)[-1] == RETIRED


def _add(into: dict[str, dict[str, float]], counts: Any) -> None:
    for task, outcome, v in count_items(counts):
        row = into.setdefault(task, {})
        row[outcome] = row.get(outcome, 0) + v


def plan_retirement(latest: Mapping[str, Mapping[str, Any] | None], *, own: str, now_ms: int,
                    retention_days: float) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """New values of the ``ROLE/_retired`` keys, and the stale keys to tombstone after them (pure).

    ``latest``: every key's latest value (``None`` for a tombstone); ``own``: this
    worker's key, never retired (it is about to publish again).
    """
    if retention_days <= 0:
        return {}, []
    retired: dict[str, dict[str, Any]] = {}
    gone: list[str] = []
    for key, snap in sorted(latest.items()):
        if snap is None or key == own or is_retired_key(key) or fresh(snap, now_ms=now_ms,
                                                                        retention_days=retention_days):
            continue
        role = snap.get("role") if isinstance(snap.get("role"), str) and snap.get("role") else key.split("/")[0]
        rkey = f"{role}/{RETIRED}"
        if rkey not in retired:
            before = latest.get(rkey) or {}
            absorbed = before.get("absorbed") if isinstance(before.get("absorbed"), Mapping) else {}
            counts: dict[str, dict[str, float]] = {}
            _add(counts, before.get("counts"))
            retired[rkey] = {"worker_id": rkey, "role": role, "started_ms": before.get("started_ms", now_ms),
                             "updated_ms": now_ms, "counts": counts, "absorbed": dict(absorbed or {})}
        value = retired[rkey]
        stamp = snap.get("updated_ms")
        if key not in value["absorbed"] or value["absorbed"][key] != stamp:
            _add(value["counts"], snap.get("counts"))
            value["absorbed"][key] = stamp
        gone.append(key)
    for value in retired.values():  # keys absorbed and since removed need no memory
        value["absorbed"] = {k: v for k, v in value["absorbed"].items() if latest.get(k) is not None}
    return retired, gone


async def read_latest(settings: Settings, *, timeout_s: float = 60.0) -> dict[str, dict[str, Any] | None]:
    """Every key's latest value on ``ops.counters``, read to the end offsets found at the start.

    A value that is not a JSON object reads as ``{}`` (stale: it will be retired).
    Raises :class:`BrokerUnavailableError` when the end is not reached within ``timeout_s``.
    """
    topic = settings.topics.counters
    reader = consumer(settings.kafka, enable_auto_commit=False, auto_offset_reset="earliest")
    await reader.start()
    latest: dict[str, dict[str, Any] | None] = {}
    try:
        deadline = time.monotonic() + timeout_s
        found = await topic_partitions(reader, topic, timeout_s=timeout_s)
        if not found:
            raise BrokerUnavailableError(f"topic {topic!r} has no partitions in the cluster's metadata; "
                                         "create it (`distillery kafka topics`)")
        parts = [TopicPartition(topic, p) for p in sorted(found)]
        reader.assign(parts)
        ends = await reader.end_offsets(parts)
        await reader.seek_to_beginning(*parts)
        for tp in parts:
            while await reader.position(tp) < ends[tp]:
                if time.monotonic() > deadline:
                    raise BrokerUnavailableError(f"reading {topic}[{tp.partition}] did not reach offset "
                                                 f"{ends[tp]} within {timeout_s:.0f} s")
                got = await reader.getmany(tp, timeout_ms=500, max_records=10_000)
                for rec in got.get(tp, []):
                    if rec.offset >= ends[tp]:
                        break
                    key = (rec.key or b"").decode("utf-8", "replace")
                    latest[key] = None if rec.value is None else _object(rec.value)
    finally:
        await reader.stop()
    return latest


def _object(value: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


async def resume(settings: Settings, counters: Counters, send: Send) -> int:
    """Read this worker's totals back and retire stale keys; how many keys were retired.

    Raises when the topic cannot be read (the caller tries again before it
    publishes anything); a failure to write the retirement is logged, and the
    next worker to start does it.
    """
    latest = await read_latest(settings)
    counters.resume(latest.get(counters.worker_id))
    retired, gone = plan_retirement(latest, own=counters.worker_id, now_ms=int(time.time() * 1000),
                                    retention_days=settings.counters_retention_days)
    try:
        for key, value in retired.items():
            await send(key, json.dumps(value).encode())
        for key in gone:
            await send(key, None)
    except Exception as exc:  # noqa: BLE001 - housekeeping: the worker runs on, a later start retires them
        log.warning("ops.counters: could not retire %d stale key(s) (%s: %s); a later start will", len(gone),
                    type(exc).__name__, exc)
        return 0
    if gone:
        log.info("ops.counters: retired %d key(s) not updated for %g days into %s", len(gone),
                 settings.counters_retention_days, ", ".join(sorted(retired)))
    return len(gone)
