"""Serving: publish-to-first-answer time of a hot swap, and the router's decision overhead.

1. **Hot swap.** An in-process server answers a stream of requests from a client
   thread while an :class:`AdapterSubscriber` follows the real broker. Each trial
   produces an ``AdapterPublished`` for a new adapter version and times until the
   first answer that adapter gives (the server's first-answer hook), split into
   the subscriber's fetch + SHA-256 check, the peft load + switch, and the rest
   (Kafka delivery, the request in flight finishing on the old adapter). The
   student is the real SmolLM2-135M on the ``transactions`` task (43 labels)
   with adapters of the task's LoRA shape; ``--quick`` uses the tiny test model.
   Adapters are random LoRA weights (:mod:`serving.adapters.tiny`): a swap does
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

from distillery.artifacts import ArtifactStore  # noqa: E402
from distillery.events import AdapterPublished, GateMetrics, ModelScores  # noqa: E402
from distillery.kafka import ensure_topics, make_producer, send_record  # noqa: E402
from distillery.settings import Settings, load_settings  # noqa: E402
from distillery.sim.transactions import TransactionGenerator  # noqa: E402
from distillery.taskspec import TaskSpec  # noqa: E402
from monitors.signals import vocabulary_of  # noqa: E402
from serving.adapters.inprocess import InProcessServer  # noqa: E402
from serving.adapters.subscriber import AdapterSubscriber  # noqa: E402
from serving.adapters.tiny import TOY_LABELS, TOY_PROMPT, random_adapters, toy_spec, toy_texts  # noqa: E402
from serving.router import Router  # noqa: E402
from streams.capture import KafkaEmitter  # noqa: E402
from trainer.card import adapter_sha256  # noqa: E402
from trainer.predict import Prediction  # noqa: E402
from trainer.student import resolve_base_model  # noqa: E402


# ------------------------------------------------------------------ hot swap
def student(settings: Settings, quick: bool, models: Path, tmp: Path) -> tuple[str, str, TaskSpec, list[str]]:
    """(base model name, its path, task spec, request texts) for the swap trials."""
    if quick:
        from trainer.tiny import build_tiny_model

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
    server.first_answer_hooks.append(lambda task, adapter_id: firsts.setdefault(adapter_id, time.perf_counter()))
    stop_traffic = threading.Event()
    answered = [0]

    def traffic() -> None:  # a client that keeps the server busy, one request after another
        i = 0
        while not stop_traffic.is_set():
            server.predict(spec.name, [texts[i % len(texts)]])
            answered[0] += 1
            i += 1

    stop = asyncio.Event()
    sub = AdapterSubscriber(settings, [server])
    runner = asyncio.create_task(sub.run(stop))
    await asyncio.wait_for(sub.ready.wait(), 60)
    client = threading.Thread(target=traffic, daemon=True)
    client.start()
    producer = make_producer(settings)
    await producer.start()
    out = []
    try:
        for ev in events:
            before = answered[0]
            await asyncio.sleep(1.0)  # steady traffic before the publish
            rate = (answered[0] - before) / 1.0
            sent = time.perf_counter()
            await send_record(producer, settings, ev)
            acked = time.perf_counter()
            while ev.adapter_id not in firsts:
                if time.perf_counter() - sent > 120:
                    raise SystemExit(f"{ev.adapter_id} was not served within 120s; notes: {list(sub.notes)[-4:]}")
                await asyncio.sleep(0.001)
            notes = {n.kind: n for n in sub.notes if n.adapter_id == ev.adapter_id}
            out.append({
                "publish_to_first_answer_s": firsts[ev.adapter_id] - sent,
                "produce_ack_s": acked - sent,
                "fetch_verify_s": notes["verified"].seconds,
                "load_switch_s": notes["switched"].seconds,
                "requests_per_s_before": rate,
            })
            print(f"  {ev.adapter_id}: first answer {out[-1]['publish_to_first_answer_s']:.3f}s after the publish",
                  flush=True)
    finally:
        stop_traffic.set()
        client.join(30)
        stop.set()
        await runner
        await producer.stop()
    return out


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
    ap.add_argument("--quick", action="store_true", help="tiny model, 3 swaps, 20,000 routed requests")
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

    started = time.perf_counter()
    base_model, base_path, spec, texts = student(base_settings, args.quick, models, tmp)
    settings = base_settings.with_overrides(topic_prefix=prefix, data_dir=tmp,
                                            tasks={**base_settings.tasks, spec.name: spec})
    asyncio.run(ensure_topics(settings))
    r, modules = int(spec.lora.get("r", 16)), spec.lora.get("target_modules", "all-linear")
    folders = random_adapters(base_path, tmp / "adapters", list(range(1, swaps + 1)), r=r, target_modules=modules)
    store = ArtifactStore(str(tmp / "store"))
    events = [event(spec, base_model, store, f, i) for i, f in enumerate(folders, 1)]
    adapter_mb = (folders[0] / "adapter_model.safetensors").stat().st_size / 1e6
    server = InProcessServer(settings, base_model, device="cpu")
    setup_s = time.perf_counter() - started
    print(f"student {base_model} ({spec.name}, {len(spec.labels)} labels), adapters r={r} "
          f"{modules} ({adapter_mb:.1f} MB); setup {setup_s:.1f}s", flush=True)
    trials = asyncio.run(swap_trials(settings, server, spec, events, texts))
    print(f"routing {n:,} requests x 5 rounds ...", flush=True)
    overhead = router_overhead(settings, n)

    latencies = [t["publish_to_first_answer_s"] for t in trials]

    def med(key: str) -> float:
        return statistics.median(t[key] for t in trials)

    result = {
        "benchmark": "serving",
        "student": {"base_model": base_model, "task": spec.name, "labels": len(spec.labels), "device": "cpu",
                    "adapter_rank": r, "adapter_mb": round(adapter_mb, 2), "quick": args.quick},
        "hot_swap": {
            "trials": [{k: round(v, 4) for k, v in t.items()} for t in trials],
            "publish_to_first_answer_s": {"median": round(statistics.median(latencies), 4),
                                          "max": round(max(latencies), 4)},
            "median_fetch_verify_s": round(med("fetch_verify_s"), 4),
            "median_load_switch_s": round(med("load_switch_s"), 4),
            "median_produce_ack_s": round(med("produce_ack_s"), 4),
            "median_requests_per_s": round(med("requests_per_s_before"), 1),
        },
        "router": {k: round(v, 2) if isinstance(v, float) else v for k, v in overhead.items()},
        "requests_per_round": n,
        "aims": {"publish_to_first_answer_s_below": 5.0, "decision_overhead_us_below": 1000.0},
        "load_average_1m": os.getloadavg()[0],
        "machine": {"cpus": os.cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    hs, ro = result["hot_swap"], result["router"]
    print()
    print(f"{'hot swap (' + base_model.rsplit('/', 1)[-1] + ')':<44}{'median':>10}{'max':>10}")
    print(f"{'  publish → first answer by the new adapter':<44}{hs['publish_to_first_answer_s']['median']:>9.3f}s"
          f"{hs['publish_to_first_answer_s']['max']:>9.3f}s   (aim < 5 s)")
    print(f"{'    fetch + SHA-256 check':<44}{hs['median_fetch_verify_s']:>9.3f}s")
    print(f"{'    peft load + switch':<44}{hs['median_load_switch_s']:>9.3f}s")
    print(f"{'    produce (acks=all)':<44}{hs['median_produce_ack_s']:>9.3f}s")
    print(f"{'  traffic while swapping':<44}{hs['median_requests_per_s']:>9.1f} req/s")
    print(f"{'router, per request':<44}{'µs':>10}")
    print(f"{'  server called directly (baseline)':<44}{ro['direct_server_call_us']:>10.2f}")
    print(f"{'  Router.route, no emitter':<44}{ro['route_no_emitter_us']:>10.2f}")
    print(f"{'  Router.route + KafkaEmitter.offer':<44}{ro['route_with_kafka_emitter_us']:>10.2f}")
    print(f"{'  decision overhead':<44}{ro['decision_overhead_us']:>10.2f}   (aim < 1000 µs)")
    print(f"{'  decision + event overhead':<44}{ro['decision_and_emit_overhead_us']:>10.2f}")
    print(f"{'  Router.aroute (thread hop per request)':<44}{ro['aroute_us']:>10.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
