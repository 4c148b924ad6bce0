"""Time from a train job on Kafka to the adapter's verdict on Kafka, on this machine.

A real ``distillery trainer`` worker (the demo task's config: SmolLM2-135M, LoRA
on the CPU or QLoRA on CUDA) gets two jobs in a row on the local broker, each a
snapshot of demo transactions labeled by the simulated teacher, judged on a
gold set of 150 (a plain sample of demo traffic, as ``make demo`` builds). The
first job scores the base model and the candidate on the gold set; the second
also has a production adapter (the first), whose answers, like the base
model's, come from the prediction cache.
Reported per job: seconds from send to verdict, and the split into loading,
training and judging (from the worker's progress on ``ops.counters``).

Run (the local broker must be up: ``distillery kafka up``)::

    python bench/job_bench.py [--quick] [--out bench/results/job.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.demo.runner import gold_rows  # noqa: E402
from devkit.sim.teacher_model import SimTeacher  # noqa: E402
from devkit.sim.transactions import TransactionGenerator  # noqa: E402
from distillery.artifacts import ArtifactStore  # noqa: E402
from distillery.events import AdapterPublished, AdapterRejected, TrainJob  # noqa: E402
from distillery.kafka import ensure_topics, read_topic, send_one  # noqa: E402
from distillery.settings import Settings, load_settings  # noqa: E402


def make_job(s: Settings, work: Path, *, seed: int, n: int, gold: list[Any]) -> TrainJob:
    teacher = SimTeacher(seed=seed)
    rows = list(TransactionGenerator(seed=seed).stream(n))
    labels = [teacher.answer(text).label for text, _ in rows]
    snap = pa.table({
        "event_id": [f"b{seed}-{i}" for i in range(n)], "input": [r[0] for r in rows], "label": labels,
        "category": labels, "source": ["production"] * n, "teacher_confidence": [0.9] * n,
        "split": ["train" if i % 10 else "eval" for i in range(n)],
    })
    gold_table = pa.table({
        "gold_id": [f"g{i}" for i in range(len(gold))], "input": [g.input for g in gold],
        "label": [g.label for g in gold], "category": [g.label for g in gold],
        "teacher_label": [teacher.answer(g.input).label for g in gold], "teacher_confidence": [0.9] * len(gold),
    })
    pq.write_table(snap, work / f"snap{seed}.parquet")
    pq.write_table(gold_table, work / "gold.parquet")
    store = ArtifactStore(s.artifact_root)
    uri, sha = store.put_file(work / f"snap{seed}.parquet", "snapshots/transactions", suffix=".parquet")
    gold_uri, _ = store.put_file(work / "gold.parquet", "gold/transactions", suffix=".parquet")
    return TrainJob(task="transactions", job_id=f"transactions-{sha[:16]}", snapshot_uri=uri, snapshot_sha256=sha,
                    gold_uri=gold_uri, n_train=n - n // 10, n_eval=n // 10, reason="count")


def verdict(s: Settings, job_id: str) -> AdapterPublished | AdapterRejected | None:
    for topic, kind in ((s.topics.published, AdapterPublished), (s.topics.rejected, AdapterRejected)):
        for r in asyncio.run(read_topic(s.kafka.bootstrap_servers, topic, idle_s=0.5, timeout_s=5)):
            v = kind.model_validate_json(r.value or b"")
            if v.job_id == job_id:
                return v
    return None


def phases(s: Settings, job_id: str) -> dict[str, float]:
    """First time each phase was seen in the worker's progress, seconds after the job started."""
    recs = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.counters, idle_s=0.5, timeout_s=5))
    seen: dict[str, float] = {}
    for r in recs:
        job = json.loads(r.value or b"{}").get("job") or {}
        if job.get("job_id") == job_id and job.get("phase") not in seen:
            seen[job["phase"]] = round((r.timestamp - job["started_ms"]) / 1000, 1)
    return seen


def run_job(s: Settings, job: TrainJob, proc: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    started = time.perf_counter()
    asyncio.run(send_one(s, job))
    while (v := verdict(s, job.job_id)) is None:
        if proc.poll() is not None:
            raise SystemExit(f"the trainer died:\n{log.read_text()[-3000:]}")
        time.sleep(2)
    took = time.perf_counter() - started
    out: dict[str, Any] = {"job_id": job.job_id, "seconds_to_verdict": round(took, 1),
                           "verdict": "promoted" if isinstance(v, AdapterPublished) else f"rejected: {v.reason}",
                           "phases_seen_at_s": phases(s, job.job_id)}
    if v.metrics is not None:
        out["gold_accuracy"] = round(v.metrics.candidate.accuracy, 3)
        out["base_accuracy"] = round(v.metrics.base.accuracy, 3) if v.metrics.base else None
    if v.training is not None:
        out["train_seconds"] = v.training.seconds
        out["steps"] = v.training.steps
        out["device"] = v.training.device
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one job instead of two")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "job.json")
    args = ap.parse_args()
    base = load_settings(ROOT / "distillery.toml")
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    tmp = Path(tempfile.mkdtemp(prefix="distillery-job-bench-"))
    s = base.with_overrides(topic_prefix=prefix, data_dir=tmp, model_cache=base.model_dir.resolve())
    asyncio.run(ensure_topics(s))
    gold = gold_rows(150, seed=1)
    n = int(s.task("transactions").retrain.min_train_examples / 0.9) + 200  # a tenth goes to eval
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISTILLERY_", "OPENAI_"))}
    env.update(DISTILLERY_CONFIG=str(ROOT / "distillery.toml"), DISTILLERY_TOPIC_PREFIX=prefix,
               DISTILLERY_DATA_DIR=str(tmp), DISTILLERY_MODEL_CACHE=str(s.model_dir),
               KAFKA_BOOTSTRAP_SERVERS=s.kafka.bootstrap_servers, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    log = tmp / "trainer.log"
    proc = subprocess.Popen([sys.executable, "-m", "console", "trainer"], env=env, cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    jobs = []
    try:
        for seed in (11,) if args.quick else (11, 12):
            print(f"job on {n} examples (seed {seed}) ...", flush=True)
            jobs.append(run_job(s, make_job(s, tmp, seed=seed, n=n, gold=gold), proc, log))
            print(json.dumps(jobs[-1]), flush=True)
    finally:
        proc.terminate()
        proc.wait(60)
    spec = s.task("transactions")
    result = {
        "benchmark": "train_job_to_verdict",
        "device": jobs[0].get("device"),
        "model": spec.student.base_model,
        "examples": n,
        "gold_size": len(gold),
        "sft": spec.sft,
        "jobs": jobs,
        "note": "job 1 scores the base model and the candidate; job 2 also judges against job 1's adapter "
                "(production), whose answers and the base model's come from the prediction cache",
        "load_average_1m": os.getloadavg()[0],
        "machine": {"cpus": os.cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    for i, j in enumerate(jobs, 1):
        print(f"job {i}: {j['seconds_to_verdict']:>7.1f}s to verdict ({j['verdict']}), "
              f"gold accuracy {j.get('gold_accuracy')}, phases {j['phases_seen_at_s']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
