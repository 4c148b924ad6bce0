"""Streams with a known change point, and helpers to drive a monitors worker subprocess.

Everything is seeded: the same stream gives the same detector firings, so a
test can compute in-process exactly which alarm a worker must raise.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from distillery.events import DriftEvent, InferenceEvent, LabeledExample, Record
from distillery.kafka import make_producer, read_topic
from distillery.settings import Settings
from monitors.alarm import Position
from monitors.task_monitor import TaskMonitor

TASK = "transactions"
CATS = ["fuel", "groceries", "coffee_shops", "restaurants", "pharmacy"]
WORDS = ["shell", "oil", "kroger", "starbucks", "cvs", "chipotle", "austin", "seattle", "market", "store"]
T0 = 1_700_000_000_000
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def labeled_stream(seed: int, n_before: int, n_after: int, p_before: float = 0.95,
                   p_after: float = 0.70) -> list[LabeledExample]:
    """Teacher labels of sampled events; the student agrees with ``p_before``, then ``p_after``."""
    rng = random.Random(seed)
    out = []
    for i in range(n_before + n_after):
        agree = rng.random() < (p_before if i < n_before else p_after)
        label = rng.choice(CATS)
        out.append(LabeledExample(task=TASK, event_id=f"l{i}", input="SHELL OIL 1234", label=label, source="teacher",
                                  student_output=label if agree else "other", ts_ms=T0 + i * 1000))
    return out


def inference_stream(seed: int, n: int) -> list[InferenceEvent]:
    """Stationary production traffic: the same input shape and answer mix throughout."""
    rng = random.Random(seed)
    return [
        InferenceEvent(task=TASK, event_id=f"i{i}",
                       input=" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))) + f" #{rng.randint(1, 999)}",
                       output=rng.choices(CATS, [40, 25, 15, 12, 8])[0], ts=T0 + i * 3500)
        for i in range(n)
    ]


def expected_monitor(streams: dict[str, Sequence[InferenceEvent | LabeledExample]],
                     start: dict[str, int] | None = None) -> tuple[TaskMonitor, list[DriftEvent]]:
    """Run the records through an in-process monitor, at the offsets they get on a fresh partition."""
    monitor = TaskMonitor(TASK)
    alarms: list[DriftEvent] = []
    for topic, records in streams.items():
        first = (start or {}).get(topic, 0)
        for i, rec in enumerate(records):
            alarms += monitor.observe(rec, Position(topic, partition_of_task(), first + i))
    return monitor, alarms


def partition_of_task(partitions: int = 4) -> int:
    from monitors.app import partition_of

    return partition_of(TASK, partitions)


async def _produce(settings: Settings, items: Iterable[tuple[str, bytes | None, bytes | None]]) -> None:
    producer = make_producer(settings, max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for topic, key, value in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def produce(settings: Settings, topic: str, records: Sequence[Record]) -> None:
    """Send contract records to a topic, keyed by task, in order."""
    asyncio.run(_produce(settings, ((topic, r.key(), r.to_json()) for r in records)))


def produce_raw(settings: Settings, items: Sequence[tuple[str, bytes | None, bytes | None]]) -> None:
    """Send (topic, key, value) triples as they are: malformed ones included."""
    asyncio.run(_produce(settings, items))


def drift_events(settings: Settings, idle_s: float = 1.5) -> list[DriftEvent]:
    """Every valid drift event on the deployment's drift topic."""
    out = []
    for rec in asyncio.run(read_topic(settings.kafka.bootstrap_servers, settings.topics.drift, idle_s=idle_s,
                                      timeout_s=10)):
        try:
            out.append(DriftEvent.model_validate_json(rec.value or b""))
        except ValueError:
            continue
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Worker:
    """A ``distillery monitors`` subprocess and its HTTP endpoints."""

    proc: subprocess.Popen[bytes]
    http_port: int
    web_port: int

    def log(self) -> str:
        return open(self.proc.log_path).read()  # type: ignore[attr-defined]

    def get(self, path: str, port: int | None = None) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{port or self.web_port}{path}", timeout=5) as resp:
            return bytes(resp.read())

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.get("/api/state")))

    def metrics(self) -> str:
        return self.get("/metrics", self.http_port).decode()

    def wait_for(self, what: str, check: Callable[[dict[str, Any]], bool], timeout_s: float = 45) -> dict[str, Any]:
        """Poll the ops JSON until ``check`` holds; fail with the worker's log if it never does."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"monitors worker exited:\n{self.log()[-4000:]}"
            try:
                last = self.state()
                if check(last):
                    return last
            except OSError:
                pass  # not listening yet
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; last state counts: "
                             f"{ {t: v['counts'] for t, v in last.get('tasks', {}).items()} }\n{self.log()[-4000:]}")


def task_seen(state: dict[str, Any], signal: str) -> int:
    task = state.get("tasks", {}).get(TASK)
    return int(task["events_seen"].get(signal, 0)) if task else 0


def chromium_dom(url: str) -> str:
    """The page's DOM after its scripts ran (and fetched their data), from headless Chromium."""
    exe = shutil.which("chromium")
    if exe is None:
        raise AssertionError("chromium is not installed: the ops page test needs it. Install it with "
                             "`apt-get update && apt-get install -y chromium` (or `make install`).")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=4000",
                               "--dump-dom", url], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()
