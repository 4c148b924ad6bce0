"""The subscriber without a broker: verify, refuse, fall back, follow pins and rollbacks, survive bad records."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from fsspec.registry import known_implementations, register_implementation

from distillery.artifacts import ArtifactStore
from distillery.errors import ServingError
from distillery.events import AdapterControl, AdapterPublished, GateMetrics, ModelScores
from distillery.settings import Settings
from serving.adapters.fetch import LocalAdapter
from serving.adapters.subscriber import AdapterSubscriber, SwapNote


class FakeTarget:
    kind = "fake"

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.current: dict[str, str] = {}
        self.activated: list[str] = []
        self.refuse = refuse or set()

    def serving(self, task: str) -> str | None:
        return self.current.get(task)

    async def activate(self, adapter: LocalAdapter) -> None:
        if adapter.adapter_id in self.refuse:
            raise ServingError(f"cannot load {adapter.adapter_id}")
        assert (adapter.path / "adapter_model.safetensors").read_bytes() == adapter.adapter_id.encode()
        self.activated.append(adapter.adapter_id)
        self.current[adapter.task] = adapter.adapter_id


def publish(store: ArtifactStore, tmp: Path, adapter_id: str, *, tamper: bool = False) -> AdapterPublished:
    src = tmp / "src" / adapter_id
    src.mkdir(parents=True)
    (src / "adapter_config.json").write_text("{}")
    (src / "adapter_model.safetensors").write_bytes(adapter_id.encode() + (b"!" if tamper else b""))
    uri = store.put_dir(src, f"adapters/t/{adapter_id}")
    return AdapterPublished(task="t", adapter_id=adapter_id, job_id=f"j-{adapter_id}", uri=uri,
                            sha256=hashlib.sha256(adapter_id.encode()).hexdigest(), base_model="b",
                            student_prompt="", metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1)))


def kinds(notes: list[SwapNote]) -> list[tuple[str, str | None]]:
    return [(n.kind, n.adapter_id) for n in notes]


async def test_refused_adapters_never_load_and_the_old_one_keeps_serving(
        settings_factory, tmp_path: Path) -> None:
    settings: Settings = settings_factory()
    store = ArtifactStore(str(tmp_path / "store"))
    target = FakeTarget()
    notes: list[SwapNote] = []
    sub = AdapterSubscriber(settings, [target], on_note=notes.append)
    sub.book.apply(publish(store, tmp_path, "a1"))
    await sub.reconcile("t", "published")
    sub.book.apply(publish(store, tmp_path, "a2", tamper=True))
    await sub.reconcile("t", "published")
    await sub.reconcile("t", "published")  # refused for good: not fetched again
    assert target.activated == ["a1"] and list(sub.refused) == ["a2"]
    assert kinds(notes) == [("verified", "a1"), ("switched", "a1"), ("refused", "a2")]
    assert "SHA-256" in notes[2].detail
    assert not (settings.data_dir / "serving" / "adapters" / "t" / "a2").exists()


async def test_at_start_the_newest_loadable_adapter_serves(settings_factory, tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    target = FakeTarget(refuse={"a3"})
    sub = AdapterSubscriber(settings_factory(), [target])
    for ev in (publish(store, tmp_path, "a1"), publish(store, tmp_path, "a2", tamper=True),
               publish(store, tmp_path, "a3")):
        sub.book.apply(ev)
    await sub.reconcile("t", "start")
    assert target.activated == ["a1"]  # a3 fails to load on the target, a2 fails its checksum
    assert [n.kind for n in sub.notes] == ["verified", "failed", "refused", "verified", "switched"]


async def test_pins_and_rollbacks_move_every_target(settings_factory, tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    targets = [FakeTarget(), FakeTarget()]
    sub = AdapterSubscriber(settings_factory(), targets)
    for i in (1, 2, 3):
        sub.book.apply(publish(store, tmp_path, f"a{i}"))
    await sub.reconcile("t", "start")
    sub.book.apply(AdapterControl(task="t", action="rollback"))
    await sub.reconcile("t", "rollback")
    sub.book.apply(AdapterControl(task="t", action="pin", adapter_id="a1"))
    await sub.reconcile("t", "pin")
    sub.book.apply(AdapterControl(task="t", action="unpin"))
    await sub.reconcile("t", "unpin")
    assert [t.activated for t in targets] == [["a3", "a2", "a1", "a2"]] * 2
    switched = [(n.adapter_id, n.previous, n.reason) for n in sub.notes if n.kind == "switched"]
    assert switched[:4:2] == [("a3", None, "start"), ("a2", "a3", "rollback")]
    assert switched[4:8:2] == [("a1", "a2", "pin"), ("a2", "a1", "unpin")]


class FakeConsumer:
    """Stands in for aiokafka: the backlog comes first, then ``live`` one batch per poll."""

    def __init__(self, backlog: list[Any], live: list[Any]) -> None:
        self.backlog, self.live = backlog, live
        self.tp = TopicPartition("published", 0)
        self.read = 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.backlog) if tp == self.tp else 0 for tp in parts}

    async def position(self, tp: TopicPartition) -> int:
        return self.read if tp == self.tp else 0

    async def getmany(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0)
        if self.read < len(self.backlog):
            self.read = len(self.backlog)
            return {self.tp: self.backlog}
        if self.live:
            return {self.tp: [self.live.pop(0)]}
        await asyncio.sleep(0.01)
        return {}


async def test_one_bad_adapter_record_is_logged_and_skipped_and_the_next_good_one_serves(
        settings_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    settings: Settings = settings_factory()
    topic = settings.topics.published
    store = ArtifactStore(str(tmp_path / "store"))
    odd_zip = tmp_path / "odd.zip"
    odd_zip.write_bytes(b"not a zip")
    good = publish(store, tmp_path, "a1")
    bad = [good.model_copy(update={"adapter_id": "s3", "uri": "distillerytestfs://bucket/adapters/t/s3"}),
           good.model_copy(update={"adapter_id": "nested", "uri": f"zip://::zip://::file://{odd_zip}"}),
           good.model_copy(update={"adapter_id": "odd", "uri": f"zip://::file://{odd_zip}"})]
    values = [good.to_json(), *(ev.to_json() for ev in bad), b"\xff not json",
              publish(store, tmp_path, "a2").to_json()]
    records = [SimpleNamespace(topic=topic, partition=0, offset=i, timestamp=i, value=v)
               for i, v in enumerate(values)]
    consumer = FakeConsumer(records[:1], records[1:])
    module = "serving.adapters.subscriber"

    async def no_topics(*args: Any) -> None: ...

    async def assign(*args: Any) -> list[TopicPartition]:
        return [consumer.tp]

    monkeypatch.setattr(f"{module}.ensure_topics", no_topics)
    monkeypatch.setattr(f"{module}._assign", assign)
    monkeypatch.setattr(f"{module}.kafka_consumer", lambda *a, **kw: consumer)
    register_implementation("distillerytestfs", "distillery_no_such_backend.FS", errtxt="not here", clobber=True)
    target = FakeTarget()
    notes: list[SwapNote] = []
    sub = AdapterSubscriber(settings, [target], on_note=notes.append)
    stop = asyncio.Event()
    runner = asyncio.create_task(sub.run(stop))
    try:
        for _ in range(500):
            if target.serving("t") == "a2" or runner.done():
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 5)  # raises here if a record crashed the subscriber
        known_implementations.pop("distillerytestfs", None)
    assert target.activated == ["a1", "a2"]
    unavailable = {n.adapter_id: n.detail for n in notes if n.kind == "unavailable"}
    assert sorted(unavailable) == ["nested", "odd", "s3"]
    assert "pip install distillery_no_such_backend" in unavailable["s3"]
    assert f"(record {topic}[0]@1; skipped)" in unavailable["s3"]
    assert f"(record {topic}[0]@3; skipped)" in unavailable["odd"]
    assert any(f"skipped {topic}[0]@4: not a AdapterPublished" in r.getMessage() for r in caplog.records)


def test_drift_records_keep_each_tasks_latest_alarm_and_a_bad_one_is_skipped(settings_factory) -> None:
    from distillery.events import DriftEvent

    settings: Settings = settings_factory()
    sub = AdapterSubscriber(settings, [FakeTarget()])
    topic = settings.topics.drift
    alarms = [DriftEvent(task="t", signal="category_mix", detector="CUSUM", detected_at_ms=at) for at in (5_000, 9_000)]
    values = [alarms[1].to_json(), alarms[0].to_json(), b"\xff not json",
              DriftEvent(task="u", signal="agreement", detector="ADWIN", detected_at_ms=7_000).to_json()]
    for i, value in enumerate(values):
        rec = SimpleNamespace(topic=topic, partition=0, offset=i, timestamp=i, value=value)
        assert sub._fold_safely(rec) is None  # type: ignore[arg-type]  # drift never changes what serves
    assert (sub.drift_since("t"), sub.drift_since("u"), sub.drift_since("v")) == (9_000, 7_000, None)
