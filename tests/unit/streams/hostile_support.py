"""Fakes for driving the streams worker in process: a teacher, a Batch API, a producer.

Shared by the poll_batches tests and the inference.events fuzzer. Nothing here
talks to a network: the teacher answers from a hash of the input, the Batch API
is scripted per call, and the producer keeps what it was sent (refusing what a
real one would: a record over its max request size).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb
from aiokafka.structs import ConsumerRecord

from distillery.errors import TeacherError
from distillery.settings import Settings, load_settings
from streams.pipeline import Pipeline
from streams.store.db import store_path
from streams.teacher.batch import BatchOutcome
from streams.teacher.completions import TeacherResult

ROOT = Path(__file__).resolve().parents[3]


def settings_for(tmp_path: Path, *, batch: bool = False, base_rate: float = 1.0) -> Settings:
    """The shipped config with a private data dir; ``transactions`` sampled at ``base_rate``."""
    settings = load_settings(ROOT / "distillery.toml", env={}).with_overrides(data_dir=tmp_path)
    spec = settings.task("transactions")
    spec = spec.model_copy(update={
        "teacher": spec.teacher.model_copy(update={"batch": batch}),
        "sampling": spec.sampling.model_copy(update={"base_rate": base_rate}),
    })
    return settings.with_overrides(tasks={**settings.tasks, "transactions": spec})


class FakeTeacher:
    """Answers like a teacher: a label from the set (picked by a hash of the input), sometimes unsure.

    ``refuse`` names inputs it answers with a ``TeacherError`` (a refused request).
    """

    def __init__(self, labels: list[str], *, refuse: Callable[[str], bool] = lambda text: False) -> None:
        self.labels = labels
        self.refuse = refuse
        self.calls = 0

    async def label(self, text: str) -> TeacherResult:
        self.calls += 1
        if self.refuse(text):
            raise TeacherError("chat completion to fake refused with HTTP 400: bad request")
        h = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        pick = self.labels[h[0] % len(self.labels)]
        answer = pick if h[1] % 10 else "I'm sorry, I can't help with that"
        confidence = 0.3 if h[2] % 5 == 0 else 0.95
        return TeacherResult(text=answer, label=pick, confidence=confidence, prompt_tokens=50,
                             completion_tokens=3, cost_usd=0.0001, model="gpt-4.1")

    async def aclose(self) -> None:
        return None


class FakeBatch:
    def __init__(self, batch_id: str, status: str) -> None:
        self.id = batch_id
        self.status = status


class FakeLabeler:
    """A scripted Batch API: each call takes the next entry of its script (an exception is raised).

    ``submit`` answers a batch id; ``retrieve`` a status; ``collect`` which of the ids
    get a result (``"all"``, ``"none"`` or a count), or an exception.
    """

    def __init__(self, teacher: FakeTeacher, script: dict[str, list[Any]]) -> None:
        self.teacher = teacher
        self.script = script
        self.submitted: dict[str, list[str]] = {}

    def _next(self, op: str) -> Any:
        step = self.script[op].pop(0) if self.script.get(op) else None
        if isinstance(step, BaseException):
            raise step
        return step

    async def submit(self, items: Mapping[str, str]) -> str:
        batch_id = self._next("submit") or f"batch-{len(self.submitted)}"
        self.submitted[batch_id] = list(items)
        return str(batch_id)

    async def retrieve(self, batch_id: str) -> FakeBatch:
        return FakeBatch(batch_id, self._next("retrieve") or "completed")

    async def collect(self, batch: FakeBatch, custom_ids: list[str] | None = None) -> BatchOutcome:
        how = self._next("collect") or "all"
        ids = list(custom_ids or [])
        answered = ids if how == "all" else [] if how == "none" else ids[: int(how)]
        out = BatchOutcome(batch.id, batch.status)
        for custom_id in answered:
            r = await self.teacher.label(custom_id)
            out.results[custom_id] = r.replace(batch=True, cost_usd=r.cost_usd / 2)
        for custom_id in ids:
            if custom_id not in out.results:
                out.errors[custom_id] = "missing from the batch output"
        return out


class FakeProducer:
    """``send(topic, key, value)`` as the worker calls it; refuses a record over ``max_request``."""

    def __init__(self, max_request: int) -> None:
        self.max_request = max_request
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        if len(key) + len(value) > self.max_request:
            raise ValueError(f"MessageSizeTooLargeError: {len(key) + len(value)} bytes > {self.max_request}")
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def record(topic: str, offset: int, value: bytes | None, key: bytes | None = b"transactions",
           partition: int = 0) -> ConsumerRecord[bytes, bytes]:
    """A consumer record as ``getmany`` hands it over."""
    return ConsumerRecord(topic, partition, offset, 0, 0, key, value, None,
                          len(key or b""), len(value or b""), [])


def dump_store(pipeline: Pipeline, task: str = "transactions") -> str:
    """Every row of every table of ``task``'s store, as text: what a redaction test searches for leaks.

    Closes the pipeline's writer first: DuckDB opens a file read-only only when nothing
    holds it for writing.
    """
    pipeline.store(task).close()
    con = duckdb.connect(str(store_path(pipeline.settings, task)), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return "\n".join(str(con.execute(f"SELECT * FROM {t}").fetchall()) for t in tables)
    finally:
        con.close()
