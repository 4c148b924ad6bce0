"""Adapters on the real broker: published → verified → served within seconds; tampering refused; rollback.

Three random LoRA adapters on the tiny model stand in for trained ones (they
answer differently from each other); answers are compared with the same
adapters loaded offline, exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from console.adapters_cmd import adapters as adapters_command
from console.common import Context
from devkit.tiny_adapters import TOY_LABELS, TOY_PROMPT, random_adapters, toy_spec, toy_texts
from devkit.tiny_student import build_tiny_model
from distillery.artifacts import ArtifactStore
from distillery.events import (
    AdapterPublished,
    GateMetrics,
    InferenceEvent,
    ModelScores,
    Record,
)
from distillery.kafka import make_producer, read_topic, send_record
from distillery.settings import Settings
from distillery.taskspec import StudentSpec
from serving.adapters.inprocess import InProcessServer
from serving.adapters.subscriber import AdapterSubscriber
from trainer.card import adapter_sha256
from trainer.loading import load_tokenizer, load_with_adapter
from trainer.predict import predict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TEXTS = toy_texts(6, seed=5)
Answers = list[tuple[Any, float]]


class World:
    def __init__(self, folder: Path) -> None:
        self.base = str(build_tiny_model(folder / "base", toy_texts(96, 1) + TOY_LABELS + [TOY_PROMPT], seed=0))
        self.dirs = dict(zip("ABC", random_adapters(self.base, folder / "adapters", [1, 2, 3]), strict=True))
        self.store = ArtifactStore(str(folder / "store"))
        self.uris = {name: self.store.put_dir(path, f"adapters/toy/{name}") for name, path in self.dirs.items()}
        tokenizer = load_tokenizer(self.base)
        self.reference = {name: [(p.answer, p.confidence) for p in predict(
            load_with_adapter(self.base, path, "cpu"), tokenizer, toy_spec(), TEXTS)] for name, path in self.dirs.items()}
        assert len({tuple(a for a, _ in ans) for ans in self.reference.values()}) == 3

    def spec(self) -> Any:
        spec = toy_spec("toy")
        return spec.model_copy(update={"student": StudentSpec(base_model=self.base, system_prompt=TOY_PROMPT)})

    def event(self, name: str, adapter_id: str | None = None, sha_of: str | None = None) -> AdapterPublished:
        return AdapterPublished(
            task="toy", adapter_id=adapter_id or f"toy-{name}", job_id=f"job-{adapter_id or name}",
            uri=self.uris[name], sha256=adapter_sha256(self.dirs[sha_of or name]), base_model=self.base,
            student_prompt=TOY_PROMPT, router_threshold=0.0, router_coverage=1.0,
            metrics=GateMetrics(gold_size=30, candidate=ModelScores(n=30, accuracy=0.9),
                                teacher=ModelScores(n=30, accuracy=0.95)))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("serving-kafka"))


def same(got: Answers, want: Answers) -> bool:
    return [a for a, _ in got] == [a for a, _ in want] and all(
        abs(c - d) < 1e-5 for (_, c), (_, d) in zip(got, want, strict=True))


def answers(server: InProcessServer) -> Answers:
    return [(p.answer, p.confidence) for p in server.predict("toy", TEXTS)]


async def send(settings: Settings, *records: Record) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for record in records:
            await send_record(producer, settings, record)
    finally:
        await producer.stop()


async def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


class Watcher:
    """A subscriber with an in-process server, running in the test's event loop."""

    def __init__(self, settings: Settings, world: World) -> None:
        self.server = InProcessServer(settings, world.base, device="cpu")
        self.sub = AdapterSubscriber(settings, [self.server])
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        self.task = asyncio.create_task(self.sub.run(self.stop))
        await asyncio.wait_for(self.sub.ready.wait(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)

    def serving(self, adapter_id: str) -> Callable[[], bool]:
        return lambda: self.server.serving("toy") == adapter_id

    def noted(self, kind: str, adapter_id: str) -> Callable[[], bool]:
        return lambda: any(n.kind == kind and n.adapter_id == adapter_id for n in self.sub.notes)


@pytest.mark.kafka
async def test_a_published_adapter_is_verified_and_served_within_seconds(kafka_settings, world: World) -> None:
    settings = await asyncio.to_thread(kafka_settings, tasks={"toy": world.spec()})  # it runs its own loop
    async with Watcher(settings, world) as w:
        assert w.server.serving("toy") is None
        await send(settings, world.event("A"))
        took = await wait_for(w.serving("toy-A"), 10, "toy-A served")
        assert took < 5 and same(answers(w.server), world.reference["A"])
        await send(settings, world.event("B"))
        await wait_for(w.serving("toy-B"), 10, "toy-B served")
        assert same(answers(w.server), world.reference["B"])
    assert [(n.kind, n.adapter_id, n.reason) for n in w.sub.notes if n.kind != "ready"] == [
        ("verified", "toy-A", "published"), ("switched", "toy-A", "published"),
        ("verified", "toy-B", "published"), ("switched", "toy-B", "published")]


@pytest.mark.kafka
async def test_a_tampered_adapter_is_refused_and_the_old_one_keeps_serving(kafka_settings, world: World) -> None:
    settings = await asyncio.to_thread(kafka_settings, tasks={"toy": world.spec()})  # it runs its own loop
    async with Watcher(settings, world) as w:
        await send(settings, world.event("A"))
        await wait_for(w.serving("toy-A"), 10, "toy-A served")
        # B's files, announced with C's checksum: what a swapped or corrupted upload looks like
        await send(settings, world.event("B", sha_of="C"))
        await wait_for(w.noted("refused", "toy-B"), 10, "toy-B refused")
        assert w.server.serving("toy") == "toy-A" and w.server.loaded("toy") == ["toy-A"]
        assert same(answers(w.server), world.reference["A"])
        assert not (settings.data_dir / "serving" / "adapters" / "toy" / "toy-B").exists()
        await send(settings, world.event("C"))  # the next sound adapter is served as usual
        await wait_for(w.serving("toy-C"), 10, "toy-C served")
        assert same(answers(w.server), world.reference["C"])


@pytest.mark.kafka
async def test_rollback_and_pin_from_the_cli_move_live_and_restarted_replicas(kafka_settings, world: World) -> None:
    settings = await asyncio.to_thread(kafka_settings, tasks={"toy": world.spec()})  # it runs its own loop
    ctx = Context(None)
    ctx._settings = settings

    def cli(*args: str) -> str:
        out = CliRunner(env={"COLUMNS": "200"}).invoke(adapters_command, list(args), obj=ctx)
        assert out.exit_code == 0, out.output
        return out.output

    await send(settings, world.event("A"), world.event("B"))
    async with Watcher(settings, world) as w:
        assert w.server.serving("toy") == "toy-B"  # the newest, loaded once at start
        await asyncio.to_thread(cli, "rollback", "toy")
        await wait_for(w.serving("toy-A"), 10, "rolled back to toy-A")
        assert same(answers(w.server), world.reference["A"])
        assert w.server.loaded("toy") == ["toy-A", "toy-B"]  # B stays loaded: rolling forward is instant
        await asyncio.to_thread(cli, "pin", "toy", "toy-B", "--note", "A misroutes fuel")
        await wait_for(w.serving("toy-B"), 10, "pinned toy-B")
        await send(settings, world.event("C"))
        await asyncio.sleep(1.5)
        assert w.server.serving("toy") == "toy-B"  # pinned: a new adapter does not displace it
        table = await asyncio.to_thread(cli, "list", "--task", "toy")
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in table.splitlines()
            if line.startswith("│ toy-")}
    assert rows == {"toy-C": "published", "toy-B": "serving (pinned)", "toy-A": "previous"}, table
    assert [(n.kind, n.adapter_id, n.reason) for n in w.sub.notes if n.kind == "switched"] == [
        ("switched", "toy-B", "start"), ("switched", "toy-A", "rollback"), ("switched", "toy-B", "pin")]
    await asyncio.to_thread(cli, "unpin", "toy")
    async with Watcher(settings, world) as fresh:  # a replica started now: same history, same answer
        assert fresh.server.serving("toy") == "toy-C"
        assert same(answers(fresh.server), world.reference["C"])


WATCH_KEY = "watch-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.kafka
async def test_the_watch_command_serves_routes_and_emits_over_http(kafka_settings, spawn_worker, world: World,
                                                                   tmp_path: Path) -> None:
    settings = await asyncio.to_thread(kafka_settings, tasks={"toy": world.spec()})  # it runs its own loop
    config = tmp_path / "distillery.toml"
    config.write_text(f'[tasks.toy]\nkind = "classification"\nlabels = {json.dumps(TOY_LABELS)}\n'
                      f'[tasks.toy.student]\nbase_model = "{world.base}"\nsystem_prompt = "{TOY_PROMPT}"\n')
    port = free_port()
    proc = spawn_worker(settings, "adapters", "watch", "--port", str(port), config=config,
                        DISTILLERY_API_KEYS=WATCH_KEY)
    await send(settings, world.event("A"))
    got: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {WATCH_KEY}"}) as http:
        async def ask() -> bool:
            try:
                async with http.get(f"http://127.0.0.1:{port}/v1/adapters") as resp:
                    return (await resp.json())["toy"]["serving"] == "toy-A"
            except aiohttp.ClientError:
                return False

        deadline = time.perf_counter() + 45
        while not await ask():
            assert proc.poll() is None and time.perf_counter() < deadline, Path(proc.log_path).read_text()
            await asyncio.sleep(0.2)
        for i, text in enumerate(TEXTS):
            async with http.post(f"http://127.0.0.1:{port}/v1/route",
                                 json={"task": "toy", "input": text, "event_id": f"r-{i}"}) as resp:
                assert resp.status == 200
                got.append(await resp.json())
        async with http.post(f"http://127.0.0.1:{port}/v1/route", json={"task": "nope", "input": "x"}) as resp:
            assert resp.status == 400 and "unknown task 'nope'" in (await resp.json())["error"]["message"]
        async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 200 and (await resp.json())["detail"] == {"toy": "toy-A"}
    async with aiohttp.ClientSession() as stranger:  # the router is private: no key, no answer
        async with stranger.post(f"http://127.0.0.1:{port}/v1/route", json={"task": "toy", "input": "x"}) as resp:
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "missing_api_key"
    assert same([(g["answer"], g["confidence"]) for g in got], world.reference["A"])
    assert {(g["route"], g["reason"], g["adapter_id"]) for g in got} == {("student", "confident", "toy-A")}
    records = await read_topic(settings.kafka.bootstrap_servers, settings.topics.inference, expect=len(TEXTS),
                               timeout_s=20)
    events = sorted((InferenceEvent.model_validate_json(r.value or b"") for r in records), key=lambda e: e.event_id)
    assert [(e.event_id, e.route, e.model, e.output) for e in events] == [
        (f"r-{i}", "student", world.base, a) for i, (a, _) in enumerate(world.reference["A"])]
    proc.terminate()
    proc.wait(20)
    log = Path(proc.log_path).read_text()
    assert "SWITCHED" in log and "(base model) → toy-A" in log and "FIRST ANSWER" in log, log


@pytest.mark.kafka
async def test_the_watch_command_drives_vllm_new_name_first_then_unload(kafka_settings, spawn_worker,
                                                                          world: World) -> None:
    from aiohttp import web

    calls: list[tuple[str, str]] = []

    async def endpoint(request: web.Request) -> web.Response:
        body = await request.json()
        calls.append((request.path.rsplit("/", 1)[1], body["lora_name"]))
        return web.Response(text="Success")

    app = web.Application()
    app.router.add_post("/v1/load_lora_adapter", endpoint)
    app.router.add_post("/v1/unload_lora_adapter", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        settings = await asyncio.to_thread(kafka_settings)
        proc = spawn_worker(settings, "adapters", "watch", "--vllm", f"http://127.0.0.1:{port}")
        await send(settings, world.event("A"))
        await wait_for(lambda: len(calls) == 1 or proc.poll() is not None, 45, "the first load")
        await send(settings, world.event("B"))
        await wait_for(lambda: len(calls) == 3 or proc.poll() is not None, 20, "the second load and the unload")
    finally:
        await runner.cleanup()
    assert calls == [("load_lora_adapter", "toy-A"), ("load_lora_adapter", "toy-B"), ("unload_lora_adapter", "toy-A")]
    proc.terminate()
    proc.wait(20)
    log = Path(proc.log_path).read_text()
    assert "(base model) → toy-A  (vllm" in log and "toy-A → toy-B  (vllm" in log, log
