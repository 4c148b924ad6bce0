"""The OpenAI-compatible router: latency and answers/s through ``/v1/chat/completions`` vs the student called directly.

At concurrency 1, 8 and 32, ``--requests`` requests are answered

* **directly**: ``InProcessServer.predict_served(task, [text])``, one request per
  call, from ``concurrency`` threads (the baseline: the student with no router,
  no HTTP, no batching);
* **through the router**: the real ``openai.AsyncOpenAI`` client, ``concurrency``
  requests in flight, against the replica's aiohttp app (:func:`serving.http.make_app`)
  served from a thread of its own on 127.0.0.1; once per ``--max-wait-ms``
  value (micro-batching: ``max_batch`` from ``[serving]``). Every request is
  answered by the student (the adapter's threshold is 0, no snapshot: no
  out-of-distribution check), so what is measured is the router's own cost
  (HTTP, JSON, the decision, token counts, the event) against what batching
  saves; events go to a counting sink (no Kafka);

and, as an upper bound, one ``predict_served`` call of ``concurrency`` texts
(``direct_batch_of_c``). Latencies are per request (p50, p99, ms); answers/s is
requests over wall time. ``replica_own_ms`` is the replica's own part of a routed
request, read from its ``Server-Timing`` header: the request's time in the replica
less the wait for the student (reading the body, checks, the decision, token
counts, the inference event), without the client's and the network's part.

The student is the task's built-in base model (``transactions``; converted on
first use, about 30 s) with a random LoRA adapter of the task's shape
(:mod:`devkit.tiny_adapters`), or with ``--tiny`` the tiny random test model on
the toy task, to check that the benchmark runs.

Run::

    python bench/router_bench.py [--tiny] [--quick] [--device cpu|cuda] [--out bench/results/router.json]
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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "--dedicated-cores" in sys.argv:  # as a replica with [serving] dedicated_cores: OpenMP's own default (console/threads.py)
    os.environ.pop("OMP_WAIT_POLICY", None)
else:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the console sets it for every worker

import openai  # noqa: E402
from aiohttp import web  # noqa: E402

from devkit.sim.transactions import TransactionGenerator  # noqa: E402
from devkit.tiny_adapters import TOY_LABELS, TOY_PROMPT, random_adapters, toy_spec, toy_texts  # noqa: E402
from distillery.events import AdapterPublished, GateMetrics, ModelScores, Record  # noqa: E402
from distillery.settings import HttpSettings, Settings, load_settings  # noqa: E402
from distillery.taskspec import TaskSpec  # noqa: E402
from distillery.webguard import Guard  # noqa: E402
from serving.adapters.fetch import LocalAdapter  # noqa: E402
from serving.adapters.inprocess import InProcessServer  # noqa: E402
from serving.http import make_app  # noqa: E402
from serving.router import Router  # noqa: E402
from trainer.student import resolve_base_model  # noqa: E402

LEVELS = (1, 8, 32)
BENCH_KEY = "bench-key-0123456789abcdef"


class CountingSink:
    """Takes every event, keeps a count: the emitter's part without Kafka."""

    def __init__(self) -> None:
        self.offered = 0
        self._lock = threading.Lock()

    def offer(self, record: Record) -> bool:
        with self._lock:
            self.offered += 1
        return True


# --------------------------------------------------------------------- setup
def student(settings: Settings, tiny: bool, tmp: Path) -> tuple[str, str, TaskSpec, list[str]]:
    """(base model name, its path, task spec, request texts)."""
    if tiny:
        from devkit.tiny_student import build_tiny_model

        base = str(build_tiny_model(tmp / "tiny", toy_texts(96, 1) + TOY_LABELS + [TOY_PROMPT], seed=0))
        return base, base, toy_spec("toy"), toy_texts(256, seed=5)
    spec = settings.task("transactions")
    texts = [text for text, _ in TransactionGenerator(seed=7).stream(256)]
    return spec.student.base_model, resolve_base_model(spec.student.base_model, settings.model_dir), spec, texts


def serve_adapter(settings: Settings, spec: TaskSpec, base_model: str, base_path: str, tmp: Path,
                  device: str | None) -> InProcessServer:
    r, modules = int(spec.lora.get("r", 16)), spec.lora.get("target_modules", "all-linear")
    (folder,) = random_adapters(base_path, tmp / "adapters", [1], r=r, target_modules=modules)
    head = spec.head == "classifier"
    if head:  # the task's own kind of adapter: a classifier head beside the LoRA weights (one pass an answer)
        from trainer.head import Classifier, HeadMeta, init_head, save_head
        from trainer.loading import load_base, load_tokenizer

        model, _ = load_base(base_path, "cpu")
        weights = init_head(model, load_tokenizer(base_path), spec.labels, spec.student.system_prompt)
        save_head(Classifier(weights, HeadMeta(tuple(spec.labels), int(weights.weight.shape[1]))), folder)
    event = AdapterPublished(task=spec.name, adapter_id=f"{spec.name}-bench", job_id="bench", uri=str(folder),
                             sha256="0" * 64, base_model=base_model, student_prompt=spec.student.system_prompt,
                             router_threshold=0.0,  # every request is the student's: the router's cost alone
                             metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)),
                             head="classifier" if head else "lm", labels=list(spec.labels) if head else None)
    server = InProcessServer(settings, base_model, device=device)
    server.load(LocalAdapter(event, folder))
    return server


class AppThread:
    """The replica's aiohttp app on 127.0.0.1, served by an event loop on a thread of its own."""

    def __init__(self, router: Router, server: InProcessServer) -> None:
        self.router, self.server = router, server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="router-bench-app", daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    def __enter__(self) -> AppThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

    async def _start(self) -> None:
        # the guarded app as production runs it, with a key and a rate limit this bench never reaches
        guard = Guard([BENCH_KEY], HttpSettings(rate_per_s=1e9, burst=10**9), surface="router")
        self.runner = web.AppRunner(make_app(self.router, self.server, guard=guard), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def _stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.router.aclose()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


# ---------------------------------------------------------------- measuring
def summary(latencies: Sequence[float], wall_s: float) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"requests": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(p99 * 1000, 3), "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
            "answers_per_s": round(len(ordered) / wall_s, 2), "wall_s": round(wall_s, 3)}


async def run_workers(concurrency: int, n: int, one: Any) -> dict[str, float]:
    """``n`` calls of ``await one(i)`` by ``concurrency`` workers; latency per call."""
    latencies: list[float] = []

    async def worker(first: int) -> None:
        for i in range(first, n, concurrency):
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return summary(latencies, time.perf_counter() - started)


async def direct(server: InProcessServer, task: str, texts: Sequence[str], concurrency: int, n: int
                 ) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        async def one(i: int) -> None:
            await loop.run_in_executor(pool, server.predict_served, task, [texts[i % len(texts)]])

        await one(0)  # warm-up
        return await run_workers(concurrency, n, one)


def direct_batch(server: InProcessServer, task: str, texts: Sequence[str], concurrency: int, rounds: int
                 ) -> dict[str, float]:
    """One ``predict_served`` of ``concurrency`` texts: answers/s when every pass is full.

    Run on a worker thread, as every other pass here: torch's main thread may use
    another intra-op thread count than the others (on a busy 2-core machine its
    OpenMP threads made the same pass 30x slower there).
    """
    batch = [texts[i % len(texts)] for i in range(concurrency)]
    server.predict_served(task, batch)
    started = time.perf_counter()
    for _ in range(rounds):
        server.predict_served(task, batch)
    wall = time.perf_counter() - started
    return {"answers_per_s": round(rounds * concurrency / wall, 2), "pass_ms": round(wall / rounds * 1000, 3)}


async def through_router(base_url: str, model: str, router: Router, texts: Sequence[str], concurrency: int,
                         n: int) -> dict[str, Any]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=BENCH_KEY, max_retries=0, timeout=300)
    routes: dict[str, int] = {}
    own_ms: list[float] = []  # the replica's own part of each request: Server-Timing total less the student's

    async def one(i: int) -> None:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": texts[i % len(texts)]}])
        completion = raw.parse()
        route = (completion.model_extra or {})["distillery"]["route"]
        routes[route] = routes.get(route, 0) + 1
        parts = dict(p.strip().split(";dur=") for p in raw.headers["Server-Timing"].split(","))
        own_ms.append(float(parts["total"]) - float(parts.get("student", 0)) - float(parts.get("teacher", 0)))

    try:
        await one(0)  # warm-up
        before = router.batch_stats()
        out: dict[str, Any] = dict(await run_workers(concurrency, n, one))
        after = router.batch_stats()
    finally:
        await client.close()
    batches, requests = after.batches - before.batches, after.requests - before.requests
    timed = sorted(own_ms[1:])  # without the warm-up
    out.update(replica_own_ms_p50=round(statistics.median(timed), 3),
               replica_own_ms_p99=round(timed[min(len(timed) - 1, int(0.99 * len(timed)))], 3))
    out.update(forward_passes=batches, mean_batch_size=round(requests / batches, 3) if batches else 0.0,
               student_answers=routes.get("student", 0) - 1, teacher_answers=routes.get("teacher", 0))
    return out


# ---------------------------------------------------------------------- main
async def measure(settings: Settings, server: InProcessServer, spec: TaskSpec, texts: Sequence[str], n: int,
                  waits: Sequence[float], sink: CountingSink) -> list[dict[str, Any]]:
    model = f"distillery:{spec.name}"
    for size in (1, 1, 8, 32, 1):  # warm-up: first passes of each shape, before anything is timed
        await asyncio.to_thread(server.predict_served, spec.name, [texts[i % len(texts)] for i in range(size)])
    apps = {}
    for wait in waits:
        router = Router(settings, server, sink, vocabulary=lambda a: None, max_wait_ms=wait)
        apps[wait] = AppThread(router, server).__enter__()
    levels = []
    try:
        for c in LEVELS:
            row: dict[str, Any] = {"concurrency": c, "direct": await direct(server, spec.name, texts, c, n),
                                   "direct_batch_of_c": await asyncio.to_thread(
                                       direct_batch, server, spec.name, texts, c, max(2, n // (4 * c))),
                                   "router": {}}
            for wait, app in apps.items():
                row["router"][f"max_wait_ms={wait:g}"] = await through_router(app.base_url, model, app.router,
                                                                               texts, c, n)
            best = max(row["router"].values(), key=lambda r: r["answers_per_s"])
            row["router_vs_direct_answers_per_s"] = round(best["answers_per_s"] / row["direct"]["answers_per_s"], 3)
            levels.append(row)
            shown = "  ".join(f"{k}: p50 {v['p50_ms']:.1f} ms, {v['answers_per_s']:.0f}/s, "
                              f"{v['mean_batch_size']:.1f}/pass" for k, v in row["router"].items())
            print(f"  c={c:<3} direct: p50 {row['direct']['p50_ms']:.1f} ms, {row['direct']['answers_per_s']:.0f}/s"
                  f"  | router {shown}", flush=True)
    finally:
        for app in apps.values():
            app.__exit__(None, None, None)
    return levels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="the tiny random test model on the toy task (fast)")
    ap.add_argument("--dedicated-cores", action="store_true",
                    help="as a replica with [serving] dedicated_cores: torch's threads spin a moment before sleeping")
    ap.add_argument("--quick", action="store_true", help="64 requests per level and path (default 512)")
    ap.add_argument("--requests", type=int, default=None, help="requests per concurrency level and path")
    ap.add_argument("--max-wait-ms", type=float, nargs="+", default=None,
                    help="router max_wait_ms values to measure (default: 0 and [serving] max_wait_ms)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default [trainer] device)")
    ap.add_argument("--no-merge", action="store_true",
                    help="serve the head adapter through peft, unmerged ([serving] merge_heads = false)")
    ap.add_argument("--models", type=Path, default=None, help="converted-model cache (default DATA_DIR/models)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "router.json")
    args = ap.parse_args()
    n = args.requests or (64 if args.quick else 512)
    base_settings = load_settings(ROOT / "distillery.toml")
    tmp = Path(tempfile.mkdtemp(prefix="distillery-router-bench-"))
    settings = base_settings.with_overrides(data_dir=tmp, model_cache=args.models or base_settings.model_dir)
    waits = args.max_wait_ms or sorted({0.0, settings.serving.max_wait_ms})

    started = time.perf_counter()
    base_model, base_path, spec, texts = student(settings, args.tiny, tmp)
    settings = settings.with_overrides(tasks={**settings.tasks, spec.name: spec})
    if args.no_merge:
        settings = settings.model_copy(update={"serving": settings.serving.model_copy(update={"merge_heads": False})})
    server = serve_adapter(settings, spec, base_model, base_path, tmp, args.device)
    print(f"{'tiny' if args.tiny else base_model} on {server.device} ({spec.name}, {len(spec.labels)} labels, "
          f"{'LoRA merged' if server.merged(spec.name) else 'through peft'}); "
          f"setup {time.perf_counter() - started:.1f}s; {n} requests per level and path", flush=True)
    sink = CountingSink()
    levels = asyncio.run(measure(settings, server, spec, texts, n, waits, sink))
    result: dict[str, Any] = {
        "benchmark": "router",
        "student": {"base_model": "tiny" if args.tiny else base_model, "task": spec.name,
                    "labels": len(spec.labels), "device": server.device,
                    "merged": server.merged(spec.name)},
        "requests_per_level": n,
        "max_batch": settings.serving.max_batch,
        "max_wait_ms": waits,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "OpenMP default (dedicated cores)"),
        "levels": levels,
        "events_offered": sink.offered,
        "load_average_1m": os.getloadavg()[0],
        "machine": {"cpus": os.cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'concurrency':<12}{'path':<24}{'p50 ms':>10}{'p99 ms':>10}{'answers/s':>12}{'per pass':>10}"
          f"{'own ms p50':>12}")
    for row in levels:
        print(f"{row['concurrency']:<12}{'direct predict':<24}{row['direct']['p50_ms']:>10.2f}"
              f"{row['direct']['p99_ms']:>10.2f}{row['direct']['answers_per_s']:>12.1f}{1:>10}")
        print(f"{'':<12}{'direct, one full pass':<24}{'':>10}{'':>10}"
              f"{row['direct_batch_of_c']['answers_per_s']:>12.1f}{row['concurrency']:>10}")
        for name, r in row["router"].items():
            print(f"{'':<12}{'router ' + name:<24}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
                  f"{r['answers_per_s']:>12.1f}{r['mean_batch_size']:>10.2f}{r['replica_own_ms_p50']:>12.2f}")
    print(f"events offered: {sink.offered}\nwrote {args.out}")


if __name__ == "__main__":
    main()
