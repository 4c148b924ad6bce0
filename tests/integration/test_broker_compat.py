"""The pinned Kafka 4.x works with aiokafka 0.14 and faust-streaming.

Produce, consume in a group, commit, resume from the commit; and a Faust table
whose changelog is a compacted topic that a restarted worker recovers from.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

HERE = Path(__file__).resolve().parent


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await p.start()
    try:
        for v in values:
            await p.send_and_wait(topic, v, key=b"k")
    finally:
        await p.stop()


async def _consume(bootstrap: str, topic: str, group: str, n: int, commit: bool) -> list[bytes]:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest")
    await c.start()
    got: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            batch = await c.getmany(timeout_ms=500, max_records=n - len(got))
            for recs in batch.values():
                got.extend(r.value for r in recs if r.value is not None)
        if commit:
            await c.commit()
    finally:
        await c.stop()
    return got


def test_aiokafka_group_consume_commit_and_resume(bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.compat"
    group = f"g{uuid.uuid4().hex[:10]}"
    asyncio.run(_produce(bootstrap, topic, [b"a", b"b", b"c"]))
    assert asyncio.run(_consume(bootstrap, topic, group, 2, commit=True)) == [b"a", b"b"]
    asyncio.run(_produce(bootstrap, topic, [b"d"]))
    # the group resumes after its committed offset: nothing re-read, nothing skipped
    assert asyncio.run(_consume(bootstrap, topic, group, 2, commit=True)) == [b"c", b"d"]

    async def committed() -> int | None:
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
        await c.start()
        try:
            return await c.committed(TopicPartition(topic, 0))
        finally:
            await c.stop()

    assert asyncio.run(committed()) == 4


def _run_table_worker(prefix: str, bootstrap: str, datadir: Path, expect: str) -> str:
    proc = subprocess.Popen([sys.executable, str(HERE / "faust_table_app.py"), prefix, bootstrap, str(datadir),
                             "worker", "-l", "info"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: out.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if any(line.rstrip().endswith(expect) for line in list(out)):
                time.sleep(3)  # let it commit before it is stopped, as a clean restart would
                return "".join(out)
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(60)
    raise AssertionError(f"worker never printed {expect!r}:\n{''.join(out)[-3000:]}")


def test_faust_table_changelog_is_compacted_and_recovered(bootstrap: str, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    asyncio.run(_produce(bootstrap, f"{prefix}words", [b"apple", b"pear", b"apple"]))
    _run_table_worker(prefix, bootstrap, tmp_path / "w1", "COUNT apple 2")

    changelog = f"{prefix}compat-counts-changelog"

    async def policy() -> str:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            res = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, changelog)])
            entries = res[0].resources[0][4]
            return next(e[1] for e in entries if e[0] == "cleanup.policy")
        finally:
            await admin.close()

    assert asyncio.run(policy()) == "compact"
    # a fresh worker (empty data dir, memory store) rebuilds the table from the changelog
    asyncio.run(_produce(bootstrap, f"{prefix}words", [b"apple"]))
    _run_table_worker(prefix, bootstrap, tmp_path / "w2", "COUNT apple 3")
