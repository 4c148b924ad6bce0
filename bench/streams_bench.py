"""Streams throughput: the real worker beside plain aiokafka loops, same topic, same run.

The worker validates, redacts, samples (production answers from the teacher model
are labels: dedupe, filters) and writes every event to the task's DuckDB file,
publishing its labeled records and committing offsets after each transaction.
The baselines only consume the same messages in a consumer group of their own:

* ``getmany``: batches, nothing done per message (the ceiling for one process; the aim's baseline);
* ``getmany + json.loads``: the least any real consumer does with a message;
* ``async for``: the canonical one-message-at-a-time aiokafka loop, nothing done per message.

Each is timed from its first message to its last. The aims (issue #4): at least
10,000 events/s for one worker, and at least 60% of the plain ``getmany`` loop.
The JSON's ``aims_met`` says which a run met; at the time of writing the first is
met and the second is not (the plain loop does no work per message at all).

Run (the local broker must be up: ``distillery kafka up``)::

    python bench/streams_bench.py [--events 60000] [--out bench/results/streams.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devkit.sim.transactions import TransactionGenerator  # noqa: E402
from distillery.errors import ArtifactError  # noqa: E402
from distillery.events import InferenceEvent  # noqa: E402
from distillery.kafka import ensure_topics  # noqa: E402
from distillery.settings import load_settings  # noqa: E402
from streams.store.db import TaskStore, store_path  # noqa: E402
from streams.store.reads import ingest_stamps  # noqa: E402


async def produce(bootstrap: str, topic: str, n: int) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, max_batch_size=512 * 1024)
    await p.start()
    try:
        for i, (text, cat) in enumerate(TransactionGenerator(seed=42).stream(n)):
            ev = InferenceEvent(event_id=f"b-{i}", task="transactions", input=text, output=cat, model="gpt-4.1",
                                ts=1_780_000_000_000 + i)
            await p.send(topic, ev.to_json(), key=b"transactions")
        await p.flush()
    finally:
        await p.stop()


async def plain_loop(bootstrap: str, topic: str, n: int, *, decode: bool = False) -> float:
    """Events/s of a bare group consumer (the ceiling for one process on this broker);
    with ``decode`` it also parses each value as JSON, the least any real consumer does."""
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"plain-{uuid.uuid4().hex[:8]}",
                         auto_offset_reset="earliest", enable_auto_commit=True)
    await c.start()
    got, first = 0, None
    try:
        while got < n:
            batch = await c.getmany(timeout_ms=500, max_records=5000)
            for recs in batch.values():
                if recs and first is None:
                    first = time.perf_counter()
                got += len(recs)
                if decode:
                    for r in recs:
                        json.loads(r.value or b"null")
        last = time.perf_counter()
    finally:
        await c.stop()
    return n / (last - (first or last))


async def per_message_loop(bootstrap: str, topic: str, n: int) -> float:
    """Events/s of the canonical ``async for msg in consumer`` loop, nothing done per message."""
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"plain-{uuid.uuid4().hex[:8]}",
                         auto_offset_reset="earliest", enable_auto_commit=True)
    await c.start()
    got, first, last = 0, None, 0.0
    try:
        async for _msg in c:
            if first is None:
                first = time.perf_counter()
            got += 1
            if got >= n:
                last = time.perf_counter()
                break
    finally:
        await c.stop()
    return n / (last - (first or last))


def worker_rate(settings_env: dict[str, str], db: Path, n: int, log: Path) -> float:
    """Events/s of one streams worker, from the stamps it wrote: first stored row to last."""
    proc = subprocess.Popen([sys.executable, "-m", "console", "streams", "--loglevel", "warning"],
                            env=settings_env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the worker died:\n{log.read_text()[-2000:]}")
            row = None
            if db.exists():
                try:
                    row = ingest_stamps(TaskStore(db, read_only=True))
                except (duckdb.Error, ArtifactError):
                    row = None  # the writer holds the file right now
            if row and row[0] >= n:
                # the first batch's rows are stamped at its end: count only the events after it
                return float(n - row[3]) / max(1e-3, (row[2] - row[1]) / 1000.0)
            time.sleep(0.2)
        raise SystemExit("the worker did not finish in time")
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--quick", action="store_true", help="20,000 events")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "streams.json")
    args = ap.parse_args()
    n = 20_000 if args.quick else args.events
    base = load_settings(ROOT / "distillery.toml")
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    tmp = Path(tempfile.mkdtemp(prefix="distillery-bench-"))
    s = base.with_overrides(topic_prefix=prefix, data_dir=tmp)
    asyncio.run(ensure_topics(s))
    print(f"producing {n} events to {s.topics.inference} ...", flush=True)
    asyncio.run(produce(s.kafka.bootstrap_servers, s.topics.inference, n))
    plain = asyncio.run(plain_loop(s.kafka.bootstrap_servers, s.topics.inference, n))
    plain_json = asyncio.run(plain_loop(s.kafka.bootstrap_servers, s.topics.inference, n, decode=True))
    per_message = asyncio.run(per_message_loop(s.kafka.bootstrap_servers, s.topics.inference, n))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISTILLERY_", "OPENAI_"))}
    env.update(DISTILLERY_CONFIG=str(ROOT / "distillery.toml"), DISTILLERY_TOPIC_PREFIX=prefix,
               DISTILLERY_DATA_DIR=str(tmp), KAFKA_BOOTSTRAP_SERVERS=s.kafka.bootstrap_servers,
               OPENAI_BASE_URL="http://127.0.0.1:9/v1")  # never called: production answers are the labels
    worker = worker_rate(env, store_path(s, "transactions"), n, tmp / "worker.log")
    aims = {"worker_events_per_s_at_least": 10_000, "ratio_at_least": 0.6}
    result = {
        "benchmark": "streams_throughput",
        "events": n,
        "worker_events_per_s": round(worker, 1),
        "plain_aiokafka_events_per_s": round(plain, 1),
        "plain_aiokafka_json_events_per_s": round(plain_json, 1),
        "plain_aiokafka_per_message_events_per_s": round(per_message, 1),
        "ratio": round(worker / plain, 3),
        "ratio_vs_json_loop": round(worker / plain_json, 3),
        "ratio_vs_per_message_loop": round(worker / per_message, 3),
        "load_average_1m": os.getloadavg()[0],
        "aims": aims,
        "aims_met": {
            "worker_events_per_s_at_least": worker >= aims["worker_events_per_s_at_least"],
            "ratio_at_least": worker / plain >= aims["ratio_at_least"],
        },
        "machine": {"cpus": os.cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    met = result["aims_met"]
    print(f"{'streams worker':<22}{worker:>12,.0f} events/s   (aim >= 10,000: {'met' if met['worker_events_per_s_at_least'] else 'NOT met'})")
    print(f"{'plain aiokafka loop':<22}{plain:>12,.0f} events/s   (getmany, nothing per message)")
    print(f"{'  + json.loads':<22}{plain_json:>12,.0f} events/s")
    print(f"{'  async for, per msg':<22}{per_message:>12,.0f} events/s")
    print(f"{'ratio':<22}{worker / plain:>12.2f}   (aim >= 0.60: {'met' if met['ratio_at_least'] else 'NOT met'})")
    print(f"{'ratio vs json loop':<22}{worker / plain_json:>12.2f}")
    print(f"{'ratio vs async for':<22}{worker / per_message:>12.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
