"""Teacher labeling throughput and the calls dedupe saves, against the local server.

Usage: ``python bench/teacher_bench.py [--quick] [--out bench/results/teacher.json]``

* **throughput**: labels per second through :class:`streams.teacher.client.TeacherClient`
  against the simulated OpenAI-compatible server answering in 50 ms (in a process
  of its own, so it does not share the client's GIL), beside the ideal
  ``concurrency / latency``; run by ``concurrency`` workers so latencies are per request;
* **dedupe**: the share of would-be teacher calls that exact and near-duplicate
  detection saves on a realistic generated stream (demo task, base rate 0.2,
  budget unlimited so only dedupe skips);
* **sampling**: the cost per event of redaction + the sampling decision, the part
  of the 10,000 events/s ingest target this area owns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devkit.sim.transactions import TransactionGenerator  # noqa: E402
from distillery.events import InferenceEvent  # noqa: E402
from distillery.settings import load_settings  # noqa: E402
from distillery.taskspec import TaskSpec  # noqa: E402
from streams.redact import Redactor  # noqa: E402
from streams.sampling import Outcome, TaskSampler  # noqa: E402
from streams.teacher.client import TeacherClient  # noqa: E402

LATENCY_S = 0.05


def demo_spec(**teacher: Any) -> TaskSpec:
    spec = load_settings(ROOT / "distillery.toml", env={}).task("transactions")
    return spec.model_copy(update={"teacher": spec.teacher.model_copy(update=teacher)})


async def _throughput(base_url: str, concurrency: int, n: int) -> dict[str, Any]:
    spec = demo_spec(concurrency=concurrency)
    texts = [t.text for t in TransactionGenerator(seed=concurrency).stream(n)]
    async with TeacherClient(spec, api_key="bench", base_url=base_url) as client:
        await asyncio.gather(*(client.label(t) for t in texts[: concurrency * 2]))  # warm the connection pool
        queue: asyncio.Queue[str] = asyncio.Queue()
        for t in texts:
            queue.put_nowait(t)
        results: list[Any] = []

        async def worker() -> None:
            # `concurrency` workers, as a streaming agent would run them: no one waits for a slot.
            while not queue.empty():
                results.append(await client.label(queue.get_nowait()))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    ideal = concurrency / LATENCY_S
    rate = n / seconds
    latencies = sorted(r.latency_s for r in results)
    return {
        "concurrency": concurrency,
        "server_latency_s": LATENCY_S,
        "labels": n,
        "seconds": round(seconds, 3),
        "labels_per_s": round(rate, 1),
        "ideal_per_s": round(ideal, 1),
        "efficiency": round(rate / ideal, 3),
        "p50_latency_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_latency_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "usd_per_1k_labels": round(sum(r.cost_usd for r in results) / n * 1000, 4),
    }


def throughput(concurrencies: list[int], n: int) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "devkit.sim.teacher_server", "--latency-s", str(LATENCY_S)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the simulated teacher server did not start: {line!r}")
        base_url = line.removeprefix("listening on ")
        return [asyncio.run(_throughput(base_url, c, n)) for c in concurrencies]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def dedupe_and_sampling(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = demo_spec()
    spec = spec.model_copy(update={"sampling": spec.sampling.model_copy(
        update={"budget_usd_per_hour": 1e9, "budget_usd_per_day": 1e9})})
    redactor = Redactor.for_task(spec)
    events = [InferenceEvent(event_id=f"b-{i}", task=spec.name, input=t.text)
              for i, t in enumerate(TransactionGenerator(seed=0).stream(n))]
    sampler = TaskSampler(spec)
    reasons: dict[str, int] = {}
    start = time.perf_counter()
    for ev in events:
        d = sampler.decide(ev, redactor(ev.input_text()).text)
        if d.outcome is Outcome.SKIP_DUPLICATE:
            reasons[d.reason] = reasons.get(d.reason, 0) + 1
    seconds = time.perf_counter() - start
    c = sampler.counters
    sampled = c["call_teacher"] + c["skip_duplicate"]
    dedupe = {
        "events": n,
        "sampled": sampled,
        "teacher_calls": c["call_teacher"],
        "skipped_exact": reasons.get("duplicate_exact", 0),
        "skipped_near": reasons.get("duplicate_near", 0),
        "share_of_calls_saved": round(c["skip_duplicate"] / sampled, 4) if sampled else 0.0,
    }
    sampling = {
        "events": n,
        "seconds": round(seconds, 3),
        "events_per_s": round(n / seconds, 1),
        "us_per_event": round(seconds / n * 1e6, 2),
        "note": "redaction + rate draw + dedupe (sampled only) + budget, one core",
    }
    return dedupe, sampling


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer calls and events (about 15 s)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "teacher.json"))
    args = ap.parse_args(argv)
    n_calls, n_events = (480, 20_000) if args.quick else (2_000, 100_000)
    report: dict[str, Any] = {
        "bench": "teacher",
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "throughput": throughput([16, 64], n_calls),
    }
    report["dedupe"], report["sampling"] = dedupe_and_sampling(n_events)
    for row in report["throughput"]:
        print(f"concurrency {row['concurrency']:>3}: {row['labels_per_s']:>7.1f} labels/s "
              f"(ideal {row['ideal_per_s']:.0f}, efficiency {row['efficiency']:.0%}), "
              f"p50 {row['p50_latency_ms']} ms, p99 {row['p99_latency_ms']} ms")
    d, s = report["dedupe"], report["sampling"]
    print(f"dedupe: {d['share_of_calls_saved']:.1%} of {d['sampled']} sampled calls saved "
          f"({d['skipped_exact']} exact, {d['skipped_near']} near) over {d['events']} events")
    print(f"sampling: {s['events_per_s']:.0f} events/s ({s['us_per_event']} us/event incl. redaction)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
