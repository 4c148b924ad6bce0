"""``distillery replay``: send a log file (or synthetic traffic) as inference events."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console

from console.common import Context
from console.sender import produce
from devkit.sim.traffic import synthetic_rows
from distillery.replay import Row, load_rows, shift_in_warmup, shift_mix

console = Console(stderr=True)


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
