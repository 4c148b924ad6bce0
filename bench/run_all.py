"""Run every benchmark and print one table: ``make bench`` (``QUICK=1`` for short runs).

Each benchmark writes its own JSON under ``bench/results/`` with its baseline
measured in the same run; this script runs them in turn, collects the headline
figures into ``bench/results/summary.json`` and prints them. The GPU benchmark
runs only where CUDA is available (``python bench/gpu_qlora_bench.py`` on any
CUDA machine); the broker must be up for the streams and serving benchmarks
(``make bench`` starts it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

BENCHES = [
    ("streams", "streams_bench.py"),
    ("drift", "drift_bench.py"),
    ("teacher", "teacher_bench.py"),
    ("trainer", "trainer_bench.py"),
    ("job", "job_bench.py"),
    ("serving", "serving_bench.py"),
    ("router", "router_bench.py"),
]


def headline(name: str, r: dict[str, Any]) -> str:
    """The one line a person wants from each benchmark's JSON."""
    try:
        if name == "streams":
            return (f"worker {r['worker_events_per_s']:,.0f} ev/s vs plain aiokafka "
                    f"{r['plain_aiokafka_events_per_s']:,.0f} ev/s (ratio {r['ratio']:.2f})")
        if name == "drift":
            mix = r["signals"]["category_mix/rare_up"]
            return (f"category mix found after {mix['mean_delay']:.0f} events (mean); "
                    f"aims met: {r.get('aims_met')}")
        if name == "teacher":
            t = r["throughput"][0]
            return (f"{t['labels_per_s']:.0f} labels/s vs ideal {t['ideal_per_s']:.0f} "
                    f"(c={t['concurrency']}, {t['server_latency_s'] * 1000:.0f} ms); dedupe saves "
                    f"{r['dedupe']['share_of_calls_saved']:.0%} of calls")
        if name == "trainer":
            sp = r["speedup"]
            return f"{sp['tokens_per_s']:.2f}x the plain PEFT loop's tokens/s, {sp['time_to_target']:.2f}x to target"
        if name == "job":
            return "; ".join(f"job {i}: {j['seconds_to_verdict']:.0f}s to {j['verdict'][:8]}"
                             for i, j in enumerate(r["jobs"], 1))
        if name == "serving":
            hs = r["hot_swap"]
            model = "smollm2" if "smollm2" in hs else next(iter(hs))
            return (f"{model}: publish to first answer {hs[model]['median']['publish_to_first_answer_s']:.2f}s "
                    f"(median); router overhead {r['router']['decision_overhead_us']:.0f} us")
        if name == "router":
            top = r["levels"][-1]
            best = max(top["router"].values(), key=lambda x: x["answers_per_s"])
            one = r["levels"][0]
            return (f"{r['student']['base_model']}: c={top['concurrency']} {best['answers_per_s']:.0f} answers/s via "
                    f"/v1/chat/completions vs {top['direct']['answers_per_s']:.0f} direct "
                    f"({best['mean_batch_size']:.1f} per pass); c=1 p50 "
                    f"{min(x['p50_ms'] for x in one['router'].values()):.1f} ms vs {one['direct']['p50_ms']:.1f} ms")
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    ap.add_argument("--only", nargs="*", default=None, help="names to run (streams drift teacher trainer job serving router)")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary: dict[str, object] = {}
    for name, script in BENCHES:
        if args.only and name not in args.only:
            continue
        out = RESULTS / f"{name}.json"
        cmd = [sys.executable, str(ROOT / "bench" / script), "--out", str(out)] + (["--quick"] if args.quick else [])
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env={"OMP_WAIT_POLICY": "PASSIVE", **os.environ})  # as the console sets it
        took = time.monotonic() - started
        result: object = json.loads(out.read_text()) if out.exists() and proc.returncode == 0 else None
        summary[name] = {"exit_code": proc.returncode, "seconds": round(took, 1), "result": result}
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    summary["gpu"] = "run bench/gpu_qlora_bench.py" if cuda else "no CUDA here: GPU figures still to be measured"
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    print("\n=== summary")
    for name, entry in summary.items():
        if isinstance(entry, dict):
            status = "ok" if entry["exit_code"] == 0 else f"FAILED ({entry['exit_code']})"
            result = entry.get("result")
            line = headline(name, result) if isinstance(result, dict) else ""
            print(f"{name:<10}{status:<14}{entry['seconds']:>8.1f}s   {line or f'bench/results/{name}.json'}")
        else:
            print(f"{name:<10}{entry}")
    if any(isinstance(e, dict) and e["exit_code"] != 0 for e in summary.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
