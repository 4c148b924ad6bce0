"""``distillery replay``: send a log file (or synthetic traffic) as inference events."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from console.common import Context
from distillery.kafka import ensure_topics, make_producer
from distillery.replay import MALFORMED, Row, load_rows, shift_in_warmup, shift_mix, to_event
from distillery.settings import Settings

console = Console(stderr=True)


def synthetic_rows(n: int, *, seed: int, drift_at: int | None, teacher_accuracy: float) -> Iterator[Row]:
    """Demo traffic: transaction lines answered in production by the (simulated) frontier model."""
    from devkit.sim.teacher_model import SimTeacher
    from devkit.sim.transactions import TransactionGenerator

    gen = TransactionGenerator(seed=seed)
    teacher = SimTeacher(accuracy=teacher_accuracy, seed=seed)
    for i in range(n):
        if drift_at is not None and i == drift_at:
            gen.set_drift(True)
        text, category = gen.sample()
        yield Row(text, category, teacher.answer(text).label)


async def produce(settings: Settings, task: str, rows: Iterator[Row], *, total: int, rate: float,
                  run_id: str, production_model: str | None, gold_share: float, malformed_share: float,
                  seed: int, manifest: Path | None, quiet: bool = False) -> dict[str, int]:
    """Send ``rows`` as events at ``rate`` per second; return what was sent."""
    await ensure_topics(settings)
    producer = make_producer(settings, linger_ms=20, max_batch_size=256 * 1024)
    rng = random.Random(seed)
    sent = {"events": 0, "malformed": 0, "gold": 0}
    out = manifest.open("w") if manifest else None
    topic = settings.topics.inference
    # production ran on the teacher with its long prompt: usage says so, as a real service's would
    prompt_overhead = settings.task(task).economics.teacher_prompt_tokens
    await producer.start()
    start = time.monotonic()
    progress = Progress(TextColumn("[bold]replay[/]"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]:.0f}/s"), TimeRemainingColumn(),
                        console=console, disable=quiet)
    try:
        with progress:
            bar = progress.add_task("replay", total=total, rate=0.0)
            for i, row in enumerate(rows):
                if malformed_share and rng.random() < malformed_share:
                    value = MALFORMED[rng.randrange(len(MALFORMED))]
                    await producer.send(topic, value, key=task.encode())
                    sent["malformed"] += 1
                    if out:
                        out.write(json.dumps({"malformed": True, "value": value.decode("latin-1")}) + "\n")
                gold = row.label is not None and rng.random() < gold_share
                ev = to_event(row, task=task, event_id=f"{run_id}-{i:08d}", ts_ms=int(time.time() * 1000),
                              production_model=production_model, with_label=gold,
                              prompt_tokens=prompt_overhead + max(1, len(row.input) // 4))
                await producer.send(topic, ev.to_json(), key=ev.key())
                sent["events"] += 1
                sent["gold"] += int(gold)
                if out:
                    out.write(json.dumps({"event_id": ev.event_id, "gold": gold, "truth": row.label,
                                          "index": i}) + "\n")
                if rate > 0:
                    ahead = (i + 1) / rate - (time.monotonic() - start)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                if i % 50 == 0:
                    elapsed = max(1e-6, time.monotonic() - start)
                    progress.update(bar, completed=i + 1, rate=(i + 1) / elapsed)
            progress.update(bar, completed=total)
        await producer.flush()
    finally:
        await producer.stop()
        if out:
            out.close()
    return sent


@click.command("replay")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--task", "task_name", default=None, help="Task the events belong to (default: the only task).")
@click.option("--synthetic", type=int, default=None, metavar="N",
              help="Instead of a file, send N synthetic bank-transaction events (the demo task).")
@click.option("--rate", type=float, default=300.0, show_default=True, help="Events per second (0: as fast as possible).")
@click.option("--limit", type=int, default=None, help="Send at most this many rows.")
@click.option("--input-col", default="input", show_default=True, help="Column with the request text.")
@click.option("--label-col", default="label", show_default=True, help="Column with ground truth, if any.")
@click.option("--output-col", default="output", show_default=True, help="Column with production's answer, if any.")
@click.option("--production-model", default=None,
              help="Model that produced the output column (default: the task's teacher model).")
@click.option("--gold-share", type=float, default=0.05, show_default=True,
              help="Share of labeled rows sent with their label (they feed the frozen gold set).")
@click.option("--shift-at", type=int, default=None, help="Row at which the category mix shifts (or drift starts).")
@click.option("--shift-category", default=None, help="Category that becomes common after --shift-at (files).")
@click.option("--shift-share", type=float, default=0.3, show_default=True, help="Its share after the shift.")
@click.option("--malformed-share", type=float, default=0.0, show_default=True,
              help="Mix in this share of broken events (exercises the dead-letter path).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every sent event id (and ground truth) to this JSONL file.")
@click.pass_obj
def replay(ctx: Context, file: Path | None, task_name: str | None, synthetic: int | None, rate: float,
           limit: int | None, input_col: str, label_col: str, output_col: str, production_model: str | None,
           gold_share: float, shift_at: int | None, shift_category: str | None, shift_share: float,
           malformed_share: float, seed: int, manifest: Path | None) -> None:
    """Send a log file, or synthetic traffic, to Kafka as inference events.

    FILE is JSONL or CSV with an input column and, optionally, ground-truth label
    and production-answer columns. The whole loop (sampling, drift, retraining,
    report) can be tried on real logs before any service is wired.

    \b
    Examples:
      distillery replay logs.csv --input-col text --label-col category --rate 200
      distillery replay logs.jsonl --shift-at 5000 --shift-category refunds --shift-share 0.4
      distillery replay --synthetic 20000 --shift-at 10000      # the demo traffic, drifting midway
    """
    s = ctx.settings
    if task_name is None:
        if len(s.tasks) != 1:
            raise click.UsageError(f"--task is needed: tasks are {', '.join(sorted(s.tasks)) or 'none'}")
        task_name = next(iter(s.tasks))
    spec = s.task(task_name)
    model = production_model or spec.teacher.model
    if (file is None) == (synthetic is None):
        raise click.UsageError("give a FILE or --synthetic N (not both)")
    rows: Iterator[Row]
    if synthetic is not None:
        total = synthetic
        rows = synthetic_rows(synthetic, seed=seed, drift_at=shift_at, teacher_accuracy=0.95)
        run_id = f"syn{seed}"
    else:
        assert file is not None
        loaded = load_rows(file, input_col=input_col, label_col=label_col or None, output_col=output_col or None)
        loaded = loaded[:limit] if limit else loaded
        total = len(loaded)
        rows = shift_mix(loaded, at=shift_at, category=shift_category, share=shift_share, seed=seed)
        run_id = "r" + hashlib.sha256(f"{file.resolve()}|{seed}|{shift_at}".encode()).hexdigest()[:10]
    d = s.monitors.drift
    note = shift_in_warmup(shift_at, warmup_min=d.warmup_min, warmup_per_category=d.warmup_per_category,
                           warmup_max=d.warmup_max, categories=len(spec.labels or []) or 1)
    if note:
        console.print(f"[yellow]{note}[/]")
    sent = asyncio.run(produce(s, task_name, rows, total=total, rate=rate, run_id=run_id,
                               production_model=model, gold_share=gold_share,
                               malformed_share=malformed_share, seed=seed, manifest=manifest))
    console.print(f"sent {sent['events']} events to {s.topics.inference} "
                  f"({sent['gold']} with ground truth, {sent['malformed']} malformed)")


COMMANDS = [replay]
