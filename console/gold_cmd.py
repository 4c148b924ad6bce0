"""``distillery gold``: the frozen gold set every adapter is judged on."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from console.common import Context
from distillery.events import InferenceEvent
from distillery.kafka import ensure_topics, make_producer
from distillery.replay import load_rows

console = Console()


@click.group("gold")
def gold() -> None:
    """Import and inspect the frozen gold set (hand-checked examples, never trained on)."""


@gold.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--task", "task_name", default=None, help="Task (default: the only task).")
@click.option("--input-col", default="input", show_default=True)
@click.option("--label-col", default="label", show_default=True)
@click.option("--teacher-col", default=None, help="Column with the teacher's answer, to pin it without a call.")
@click.pass_obj
def import_(ctx: Context, file: Path, task_name: str | None, input_col: str, label_col: str,
            teacher_col: str | None) -> None:
    """Send hand-checked examples (JSONL or CSV) into the task's gold set.

    They travel as inference events carrying a ground-truth label, so the streams
    worker that owns the task writes them (one writer per DuckDB file). Ids come
    from the content: importing the same file twice adds nothing. The teacher
    answers each new gold input once and that answer is pinned.
    """
    s = ctx.settings
    task = task_name or (next(iter(s.tasks)) if len(s.tasks) == 1 else None)
    if task is None:
        raise click.UsageError(f"--task is needed: tasks are {', '.join(sorted(s.tasks))}")
    spec = s.task(task)
    rows = load_rows(file, input_col=input_col, label_col=label_col, output_col=teacher_col)
    missing = [i for i, r in enumerate(rows, 1) if r.label is None]
    if missing:
        raise click.ClickException(f"{file}: rows {missing[:10]} have no {label_col!r}; gold rows need a label")
    if spec.kind == "classification":
        unknown = sorted({str(r.label) for r in rows if r.label not in spec.labels})
        if unknown:
            raise click.ClickException(f"labels not in task {task!r}'s label set: {unknown[:10]}")

    async def send() -> None:
        await ensure_topics(s)
        producer = make_producer(s)
        await producer.start()
        try:
            for r in rows:
                digest = hashlib.sha256(f"{r.input}\x00{r.label}".encode()).hexdigest()[:24]
                ev = InferenceEvent(event_id=f"gold-{digest}", task=task, input=r.input, label=r.label,
                                    output=r.output, model=spec.teacher.model if r.output else None,
                                    metadata={"gold_source": "import", "file": file.name})
                await producer.send(s.topics.inference, ev.to_json(), key=ev.key())
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())
    console.print(f"sent {len(rows)} gold examples for task {task!r} to {s.topics.inference}")


@gold.command("show")
@click.option("--task", "task_name", default=None)
@click.pass_obj
def show(ctx: Context, task_name: str | None) -> None:
    """Gold-set size per category, and how often the pinned teacher answer is right."""
    from streams.store.db import TaskStore, store_path
    from streams.store.reads import gold_by_category

    s = ctx.settings
    for task in [task_name] if task_name else sorted(s.tasks):
        path = store_path(s, task)
        if not path.exists():
            console.print(f"{task}: no store yet ({path})")
            continue
        rows = gold_by_category(TaskStore(path, read_only=True, memory_limit=s.streams.store_memory_limit))
        table = Table(title=f"gold set: {task}")
        for col in ("category", "examples", "teacher right"):
            table.add_column(col)
        for cat, n, right in rows:
            table.add_row(str(cat), str(n), f"{right:.0%}")
        console.print(table)


COMMANDS = [gold]
