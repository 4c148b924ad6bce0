"""The in-process server on a tiny model: each adapter answers exactly as offline, swaps are atomic."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import serving.adapters.inprocess as inprocess
from devkit.tiny_adapters import TOY_LABELS, TOY_PROMPT, random_adapters, toy_spec, toy_texts
from devkit.tiny_student import build_tiny_model
from distillery.errors import ServingError
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from distillery.settings import Settings, load_settings
from serving.adapters.fetch import LocalAdapter
from serving.adapters.inprocess import InProcessServer
from trainer.loading import load_tokenizer, load_with_adapter
from trainer.predict import Prediction, predict

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the model hub
ROOT = Path(__file__).resolve().parents[3]
TEXTS = toy_texts(12, seed=5)


class World:
    def __init__(self, folder: Path) -> None:
        self.base = str(build_tiny_model(folder / "base", toy_texts(96, 1) + TOY_LABELS + [TOY_PROMPT], seed=0))
        self.dirs = dict(zip("ABC", random_adapters(self.base, folder / "adapters", [1, 2, 3]), strict=True))
        self.settings: Settings = load_settings(ROOT / "distillery.toml", env={}).with_overrides(
            data_dir=folder / "data", tasks={"toy": toy_spec("toy"), "toy2": toy_spec("toy2")})
        tokenizer = load_tokenizer(self.base)
        self.reference = {name: [(p.answer, p.confidence) for p in predict(
            load_with_adapter(self.base, path, "cpu"), tokenizer, toy_spec(), TEXTS)]
            for name, path in [("base", None), *self.dirs.items()]}

    def adapter(self, name: str, task: str = "toy", base_model: str | None = None) -> LocalAdapter:
        ev = AdapterPublished(task=task, adapter_id=f"{task}-{name}", job_id=f"job-{name}", uri=str(self.dirs[name]),
                              sha256="0" * 64, base_model=base_model or self.base, student_prompt=TOY_PROMPT,
                              metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))
        return LocalAdapter(ev, self.dirs[name])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("serving-tiny"))


def answers(server: InProcessServer, task: str = "toy") -> list[tuple[Any, float]]:
    return [(p.answer, p.confidence) for p in server.predict(task, TEXTS)]


def same(got: list[tuple[Any, float]], want: list[tuple[Any, float]]) -> bool:
    return [a for a, _ in got] == [a for a, _ in want] and all(
        abs(c - d) < 1e-5 for (_, c), (_, d) in zip(got, want, strict=True))


def test_each_adapter_answers_exactly_as_it_does_offline(world: World) -> None:
    assert len({tuple(a for a, _ in world.reference[n]) for n in "ABC"}) == 3  # three different answer sets
    server = InProcessServer(world.settings, world.base, device="cpu")
    assert server.served("toy") is None and same(answers(server), world.reference["base"])
    server.load(world.adapter("A"))
    assert server.serving("toy") == "toy-A" and same(answers(server), world.reference["A"])
    server.load(world.adapter("B"))
    assert server.serving("toy") == "toy-B" and same(answers(server), world.reference["B"])


def test_the_previous_adapter_stays_loaded_and_older_ones_are_deleted(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    server = InProcessServer(world.settings, world.base, device="cpu")
    for name in "ABC":
        server.load(world.adapter(name))
    assert server.loaded("toy") == ["toy-C", "toy-B"]
    assert sorted(server._model.peft_config) == ["toy-B", "toy-C"]
    loads: list[str] = []
    real = server._load_weights

    def spy(adapter: LocalAdapter, name: str) -> None:
        loads.append(name)
        real(adapter, name)

    monkeypatch.setattr(server, "_load_weights", spy)
    server.load(world.adapter("B"))  # a rollback to the previous one: a pointer switch, no load
    assert loads == [] and server.loaded("toy") == ["toy-B", "toy-C"] and same(answers(server), world.reference["B"])


def test_tasks_share_the_base_and_each_answers_with_its_own_adapter(world: World) -> None:
    server = InProcessServer(world.settings, world.base, device="cpu")
    server.load(world.adapter("A", task="toy"))
    server.load(world.adapter("C", task="toy2"))
    for _ in range(2):
        assert same(answers(server, "toy"), world.reference["A"])
        assert same(answers(server, "toy2"), world.reference["C"])


def test_a_request_in_flight_finishes_on_the_adapter_it_started_with(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    server = InProcessServer(world.settings, world.base, device="cpu")
    server.load(world.adapter("A"))
    seen: list[tuple[str, str, float]] = []
    started = threading.Event()
    real_predict = inprocess.predict

    def slow_predict(model: Any, *args: Any, **kwargs: Any) -> list[Prediction]:
        before = model.active_adapter
        started.set()
        time.sleep(0.3)
        out = real_predict(model, *args, **kwargs)
        seen.append((before, model.active_adapter, time.perf_counter()))
        return out

    monkeypatch.setattr(inprocess, "predict", slow_predict)
    in_flight = threading.Thread(target=server.predict, args=("toy", TEXTS))
    in_flight.start()
    assert started.wait(5)
    server.load(world.adapter("B"))
    swapped_at = time.perf_counter()
    in_flight.join()
    assert seen[0][:2] == ("toy-A", "toy-A") and seen[0][2] < swapped_at
    monkeypatch.setattr(inprocess, "predict", real_predict)
    assert same(answers(server), world.reference["B"])


def test_an_adapter_of_another_base_model_is_refused(world: World) -> None:
    server = InProcessServer(world.settings, world.base, device="cpu")
    server.load(world.adapter("A"))
    with pytest.raises(ServingError, match=r"toy-B: base_model is 'other-model' but this server holds .*serve it"):
        server.load(world.adapter("B", base_model="other-model"))
    assert server.serving("toy") == "toy-A"


def test_the_first_answer_of_each_adapter_is_reported_once(world: World) -> None:
    server = InProcessServer(world.settings, world.base, device="cpu")
    firsts: list[tuple[str, str]] = []
    server.first_answer_hooks.append(lambda task, adapter_id: firsts.append((task, adapter_id)))
    server.predict("toy", TEXTS[:1])  # the base model: no adapter to report
    server.load(world.adapter("A"))
    server.predict("toy", TEXTS[:1])
    server.predict("toy", TEXTS[:1])
    server.load(world.adapter("B"))
    server.predict("toy", TEXTS[:1])
    assert firsts == [("toy", "toy-A"), ("toy", "toy-B")]


def test_a_swap_is_not_starved_by_back_to_back_requests(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    server = InProcessServer(world.settings, world.base, device="cpu")
    server.load(world.adapter("A"))
    real_predict = inprocess.predict

    def slow_predict(*args: Any, **kwargs: Any) -> list[Prediction]:
        time.sleep(0.05)
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(inprocess, "predict", slow_predict)
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            server.predict("toy", TEXTS[:1])

    clients = [threading.Thread(target=traffic) for _ in range(2)]
    for c in clients:
        c.start()
    time.sleep(0.2)
    server.load(world.adapter("B"))
    stop.set()
    for c in clients:
        c.join()
    wait_s, _ = server.swap_seconds["toy-B"]
    assert wait_s < 0.3  # the request in flight (50 ms plus scoring), not the stream of requests behind it
