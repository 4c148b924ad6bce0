"""Serving: publish-to-first-answer time of a hot swap, and the router's decision overhead.

1. **Hot swap.** An in-process server answers a stream of requests from a client
   thread while an :class:`AdapterSubscriber` follows the real broker. Each trial
   produces an ``AdapterPublished`` for a new adapter version and times until the
   first answer that adapter gives (the server's first-answer hook), split into
   the subscriber's fetch + SHA-256 check, the peft load + switch, and the rest
   (Kafka delivery, the request in flight finishing on the old adapter). The
   student is the real SmolLM2-135M on the ``transactions`` task (43 labels)
   with adapters of the task's LoRA shape; ``--quick`` uses the tiny test model.
   Adapters are random LoRA weights (:mod:`devkit.tiny_adapters`): a swap does
   not care how they were trained.
2. **Router overhead.** ``Router.route`` against a fake server returning a fixed
   prediction (no model), beside calling that server directly: the difference is
   the routing decision (threshold, out-of-distribution check with a real
   vocabulary, result and event), in microseconds per request; with no emitter,
   and with a real :class:`KafkaEmitter` (its non-blocking ``offer``).

Run (the local broker must be up: ``distillery kafka up``)::

    python bench/serving_bench.py [--quick] [--out bench/results/serving.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the workers do (see console/threads.py)

from devkit.sim.transactions import TransactionGenerator  # noqa: E402
from devkit.tiny_adapters import TOY_LABELS, TOY_PROMPT, random_adapters, toy_spec, toy_texts  # noqa: E402
from distillery.artifacts import ArtifactStore  # noqa: E402
from distillery.events import AdapterPublished, GateMetrics, ModelScores  # noqa: E402
from distillery.kafka import ensure_topics, make_producer, send_record  # noqa: E402
from distillery.settings import Settings, load_settings  # noqa: E402
from distillery.taskspec import TaskSpec  # noqa: E402
from distillery_capture import KafkaEmitter  # noqa: E402
from monitors.signals import vocabulary_of  # noqa: E402
from serving.adapters.inprocess import InProcessServer  # noqa: E402
from serving.adapters.subscriber import AdapterSubscriber, SwapNote  # noqa: E402
from serving.router import Router  # noqa: E402
from trainer.card import adapter_sha256  # noqa: E402
from trainer.predict import Prediction  # noqa: E402
from trainer.student import resolve_base_model  # noqa: E402


# ------------------------------------------------------------------ hot swap
def student(settings: Settings, tiny: bool, models: Path, tmp: Path) -> tuple[str, str, TaskSpec, list[str]]:
    """(base model name, its path, task spec, request texts) for the swap trials."""
    if tiny:
        from devkit.tiny_student import build_tiny_model

        base = str(build_tiny_model(tmp / "tiny", toy_texts(96, 1) + TOY_LABELS + [TOY_PROMPT], seed=0))
        return base, base, toy_spec("toy"), toy_texts(32, seed=5)
    spec = settings.task("transactions")
    texts = [text for text, _ in TransactionGenerator(seed=7).stream(32)]
    return spec.student.base_model, resolve_base_model(spec.student.base_model, models), spec, texts


def event(spec: TaskSpec, base_model: str, store: ArtifactStore, folder: Path, version: int) -> AdapterPublished:
    uri = store.put_dir(folder, f"adapters/{spec.name}/v{version}")
    return AdapterPublished(task=spec.name, adapter_id=f"{spec.name}-bench-v{version}", job_id=f"bench-{version}",
                            uri=uri, sha256=adapter_sha256(folder), base_model=base_model,
                            student_prompt=spec.student.system_prompt, router_threshold=0.5,
                            metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))


async def swap_trials(settings: Settings, server: InProcessServer, spec: TaskSpec, events: list[AdapterPublished],
                      texts: Sequence[str]) -> list[dict[str, float]]:
    firsts: dict[str, float] = {}

    def first_answer(task: str, adapter_id: str) -> None:
        firsts.setdefault(adapter_id, time.perf_counter())

    server.first_answer_hooks.append(first_answer)
    stop_traffic = threading.Event()
    durations: list[float] = []

    def traffic() -> None:  # a client that keeps the server busy, one request after another
        i = 0
        while not stop_traffic.is_set():
            started = time.perf_counter()
            server.predict(spec.name, [texts[i % len(texts)]])
            durations.append(time.perf_counter() - started)
            i += 1

    stop = asyncio.Event()
    seen: dict[tuple[str, str | None], float] = {}

    def noted(note: SwapNote) -> None:
        seen.setdefault((note.kind, note.adapter_id), time.perf_counter())

    sub = AdapterSubscriber(settings, [server], on_note=noted)
    runner = asyncio.create_task(sub.run(stop))
    await asyncio.wait_for(sub.ready.wait(), 60)
    client = threading.Thread(target=traffic, daemon=True)
    client.start()
    producer = make_producer(settings)
    await producer.start()
    out = []
    try:
        for ev in events:
            await asyncio.sleep(2.0)  # steady traffic before the publish
            sent = time.perf_counter()
            await send_record(producer, settings, ev)
            acked = time.perf_counter()
            while ev.adapter_id not in firsts:
                if time.perf_counter() - sent > 120:
                    raise SystemExit(f"{ev.adapter_id} was not served within 120s; notes: {list(sub.notes)[-4:]}")
                await asyncio.sleep(0.001)
            notes = {n.kind: n for n in sub.notes if n.adapter_id == ev.adapter_id}
            wait_s, load_s = server.swap_seconds[ev.adapter_id]
            fetched = notes["verified"].seconds
            out.append({
                "publish_to_first_answer_s": firsts[ev.adapter_id] - sent,
                "publish_to_switched_s": seen[("switched", ev.adapter_id)] - sent,
                "produce_ack_s": acked - sent,
                "delivery_s": seen[("verified", ev.adapter_id)] - fetched - sent,
                "fetch_verify_s": fetched,
                "wait_in_flight_s": wait_s,
                "peft_load_switch_s": load_s,
                "switched_to_first_answer_s": firsts[ev.adapter_id] - seen[("switched", ev.adapter_id)],
            })
            print(f"  {ev.adapter_id}: first answer {out[-1]['publish_to_first_answer_s']:.3f}s after the publish",
                  flush=True)
    finally:
        stop_traffic.set()
        client.join(30)
        stop.set()
        await runner
        await producer.stop()
    for trial in out:
        trial["median_request_s"] = statistics.median(durations)
    return out


def summary(trials: list[dict[str, float]], base_model: str, spec: TaskSpec, r: int, adapter_mb: float
            ) -> dict[str, Any]:
    keys = [k for k in trials[0] if k != "median_request_s"]
    return {
        "student": {"base_model": base_model, "task": spec.name, "labels": len(spec.labels), "device": "cpu",
                    "adapter_rank": r, "adapter_mb": round(adapter_mb, 2)},
        "trials": [{k: round(v, 4) for k, v in t.items()} for t in trials],
        "median": {k: round(statistics.median(t[k] for t in trials), 4) for k in keys},
        "max_publish_to_first_answer_s": round(max(t["publish_to_first_answer_s"] for t in trials), 4),
        "median_request_s": round(trials[0]["median_request_s"], 4),
    }


# ------------------------------------------------------------ router overhead
class FixedServer:
    """Returns one fixed prediction: what is left of a request is the router's own work."""

    def __init__(self, adapter: AdapterPublished) -> None:
        self.adapter = adapter
        self.prediction = [Prediction("groceries", 0.93)]

    def served(self, task: str) -> AdapterPublished:
        return self.adapter

    def predict_served(self, task: str, texts: Sequence[str]) -> tuple[AdapterPublished, list[Prediction]]:
        return self.adapter, self.prediction


def per_request_us(fn: Any, texts: Sequence[str], n: int) -> float:
    """Median over 5 rounds of the mean µs per call of ``fn(text)``."""
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for i in range(n):
            fn(texts[i % len(texts)])
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(rounds)


def router_overhead(settings: Settings, n: int) -> dict[str, float]:
    spec = settings.task("transactions")
    texts = [text for text, _ in TransactionGenerator(seed=4).stream(1000)]
    # the training vocabulary covers these inputs: every request takes the student path, none escalates
    vocab = vocabulary_of([text for text, _ in TransactionGenerator(seed=3).stream(5000)] + texts)
    adapter = AdapterPublished(task=spec.name, adapter_id="ad", job_id="j", uri="/x", sha256="0" * 64,
                               base_model=spec.student.base_model, student_prompt="", router_threshold=0.5,
                               snapshot_uri="memory://snapshot.parquet",
                               metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))
    server = FixedServer(adapter)
    direct = per_request_us(lambda t: server.predict_served(spec.name, [t]), texts, n)
    quiet = Router(settings, server, None, vocabulary=lambda a: vocab)
    assert {quiet.route(spec.name, t).route for t in texts} == {"student"}
    bare = per_request_us(lambda t: quiet.route(spec.name, t), texts, n)
    emitter = KafkaEmitter.from_settings(settings, max_queue=10 * n)
    loud = Router(settings, server, emitter, vocabulary=lambda a: vocab)
    emitting = per_request_us(lambda t: loud.route(spec.name, t), texts, n)
    stats = emitter.close(30.0)

    async def async_rounds() -> float:
        started = time.perf_counter()
        for i in range(n // 10):
            await quiet.aroute(spec.name, texts[i % len(texts)])
        return (time.perf_counter() - started) / (n // 10) * 1e6

    async_us = asyncio.run(async_rounds())
    return {
        "direct_server_call_us": direct,
        "route_no_emitter_us": bare,
        "route_with_kafka_emitter_us": emitting,
        "decision_overhead_us": bare - direct,
        "decision_and_emit_overhead_us": emitting - direct,
        "aroute_us": async_us,
        "aroute_overhead_us": async_us - direct,
        "events_emitted": stats.emitted,
        "events_dropped": stats.dropped_full + stats.dropped_error,
        "vocabulary_words": len(vocab),
    }


# ---------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny model only, 3 swaps, 20,000 routed requests")
    ap.add_argument("--swaps", type=int, default=None, help="swap trials (default 5, --quick 3)")
    ap.add_argument("--requests", type=int, default=None, help="routed requests per round (default 50,000)")
    ap.add_argument("--models", type=Path, default=None, help="converted-model cache (default DATA_DIR/models)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serving.json")
    args = ap.parse_args()
    swaps = args.swaps or (3 if args.quick else 5)
    n = args.requests or (20_000 if args.quick else 50_000)
    base_settings = load_settings(ROOT / "distillery.toml")
    tmp = Path(tempfile.mkdtemp(prefix="distillery-serving-bench-"))
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    models = args.models or base_settings.data_dir / "models"

    which = ["tiny"] if args.quick else ["tiny", "smollm2"]
    hot_swap: dict[str, Any] = {}
    settings = base_settings
    for model in which:
        started = time.perf_counter()
        base_model, base_path, spec, texts = student(base_settings, model == "tiny", models, tmp / model)
        settings = base_settings.with_overrides(topic_prefix=f"{prefix}{model}.", data_dir=tmp / model,
                                                tasks={**base_settings.tasks, spec.name: spec})
        (tmp / model).mkdir(parents=True, exist_ok=True)
        if not (tmp / model / "models").exists():  # the server resolves the built-in student there
            (tmp / model / "models").symlink_to(Path(models).resolve(), target_is_directory=True)
        asyncio.run(ensure_topics(settings))
        r, modules = int(spec.lora.get("r", 16)), spec.lora.get("target_modules", "all-linear")
        folders = random_adapters(base_path, tmp / model / "adapters", list(range(1, swaps + 1)), r=r,
                                  target_modules=modules)
        store = ArtifactStore(str(tmp / model / "store"))
        events = [event(spec, base_model, store, f, i) for i, f in enumerate(folders, 1)]
        adapter_mb = (folders[0] / "adapter_model.safetensors").stat().st_size / 1e6
        server = InProcessServer(settings, base_model, device="cpu")
        print(f"{model}: {base_model} ({spec.name}, {len(spec.labels)} labels), adapters r={r} {modules} "
              f"({adapter_mb:.1f} MB); setup {time.perf_counter() - started:.1f}s", flush=True)
        trials = asyncio.run(swap_trials(settings, server, spec, events, texts))
        hot_swap[model] = summary(trials, base_model, spec, r, adapter_mb)
        del server
    print(f"routing {n:,} requests x 5 rounds ...", flush=True)
    overhead = router_overhead(settings, n)
    result: dict[str, Any] = {
        "benchmark": "serving",
        "hot_swap": hot_swap,
        "router": {k: round(v, 2) if isinstance(v, float) else v for k, v in overhead.items()},
        "requests_per_round": n,
        "aims": {"publish_to_first_answer_s_below": 5.0, "decision_overhead_us_below": 1000.0},
        "load_average_1m": os.getloadavg()[0],
        "machine": {"cpus": os.cpu_count(), "device": "cpu"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    ro = result["router"]
    rows = [("publish → first answer by the new adapter", "publish_to_first_answer_s"),
            ("publish → switched (serves the next request)", "publish_to_switched_s"),
            ("  produce (acks=all)", "produce_ack_s"),
            ("  Kafka → subscriber", "delivery_s"),
            ("  fetch + SHA-256 check", "fetch_verify_s"),
            ("  wait for the request in flight", "wait_in_flight_s"),
            ("  peft load + switch", "peft_load_switch_s"),
            ("switched → first answer (one request)", "switched_to_first_answer_s")]
    print()
    print(f"{'hot swap, median seconds':<48}" + "".join(f"{m:>10}" for m in hot_swap))
    for label, key in rows:
        print(f"{label:<48}" + "".join(f"{hot_swap[m]['median'][key]:>10.3f}" for m in hot_swap))
    print(f"{'max publish → first answer (aim < 5 s)':<48}" + "".join(
        f"{hot_swap[m]['max_publish_to_first_answer_s']:>10.3f}" for m in hot_swap))
    print(f"{'one request, median (traffic during swaps)':<48}" + "".join(
        f"{hot_swap[m]['median_request_s']:>10.3f}" for m in hot_swap))
    print(f"\n{'router, per request':<48}{'µs':>10}")
    print(f"{'  server called directly (baseline)':<48}{ro['direct_server_call_us']:>10.2f}")
    print(f"{'  Router.route, no emitter':<48}{ro['route_no_emitter_us']:>10.2f}")
    print(f"{'  Router.route + KafkaEmitter.offer':<48}{ro['route_with_kafka_emitter_us']:>10.2f}")
    print(f"{'  decision overhead':<48}{ro['decision_overhead_us']:>10.2f}   (aim < 1000 µs)")
    print(f"{'  decision + event overhead':<48}{ro['decision_and_emit_overhead_us']:>10.2f}")
    print(f"{'  Router.aroute (thread hop per request)':<48}{ro['aroute_us']:>10.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
