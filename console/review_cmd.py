"""``distillery review``: work through the human review queue from a terminal.

The same queue as the review page (``DATA_DIR/review/<prefix>queue.sqlite``):
each command first catches the queue up with Kafka, and every decision is
produced to ``distill.reviewed``, where the streams worker that owns the task
applies it. Leases keep two reviewers (page or terminal) off the same item.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from console.common import Context, fail
from distillery.errors import ReviewError
from distillery.events import ReviewDecision, ReviewVerdict
from distillery.settings import Settings

console = Console()
T = TypeVar("T")

reviewer_option = click.option("--reviewer", "-r", default=None,
                               help="Your reviewer id, recorded on each decision [default: your login name].")
task_option = click.option("--task", "task_name", default=None,
                           help="Only this task [default: every task; for a decision, the task that has the item].")


def _run(settings: Settings, body: Callable[[Any], Awaitable[T]], *, sync: bool = True) -> T:
    """Catch the queue up with Kafka, then run ``body(service)`` with a producer for decisions."""
    from distillery.kafka import ensure_topics, make_producer, send_record
    from monitors.review.feed import QueueFeeder
    from monitors.review.queue import ReviewQueue
    from monitors.review.service import ReviewService

    async def main() -> T:
        await ensure_topics(settings)
        queue = ReviewQueue.for_settings(settings)
        if sync:
            feeder = QueueFeeder(settings, queue)
            await feeder.start()
            try:
                await feeder.catch_up()
            finally:
                await feeder.stop()
        producer = make_producer(settings)
        await producer.start()
        try:
            async def send(d: ReviewDecision) -> None:
                await send_record(producer, settings, d)

            return await body(ReviewService(settings, queue, send))
        finally:
            await producer.stop()

    return asyncio.run(main())


def _who(reviewer: str | None) -> str:
    return reviewer or getpass.getuser()


def _show(item: dict[str, Any]) -> None:
    conf = item["teacher_confidence"]
    console.print(f"[bold]{item['item_id']}[/]  task [bold]{item['task']}[/]  ({item['origin']}: {item['reason']})")
    console.print(f"  input    {item['input']}", highlight=False, markup=False)
    console.print(f"  teacher  {item['teacher_output']}  (confidence {'-' if conf is None else f'{conf:.2f}'})",
                  highlight=False, markup=False)
    if item["student_output"] is not None:
        console.print(f"  student  {item['student_output']}", highlight=False, markup=False)
    if item["kind"] == "classification":
        console.print(f"  labels   {', '.join(item['labels'])}", highlight=False, markup=False)
    elif item["output_schema"]:
        console.print(f"  schema   {json.dumps(item['output_schema'])}", highlight=False, markup=False)
    console.print(f"  decide:  distillery review accept {item['item_id']} | correct {item['item_id']} ANSWER | "
                  f"skip {item['item_id']} | gold {item['item_id']}", highlight=False, markup=False)


@click.group("review")
def review() -> None:
    """The human review queue: unsure, off-label and audited teacher answers for people to decide.

    \b
    distillery review next                 lease the next item and show it
    distillery review accept ITEM          the teacher was right
    distillery review correct ITEM ANSWER  the teacher was wrong; ANSWER is right
    distillery review skip ITEM            cannot tell; learn nothing from it
    distillery review gold ITEM [ANSWER]   move it into the gold set
    distillery review stats                backlog, pace, teacher error rate per category
    distillery review export FILE          open items as Label Studio tasks
    distillery review import FILE          Label Studio annotations back as decisions
    """


@review.command("next")
@task_option
@reviewer_option
@click.option("--json", "as_json", is_flag=True, help="Print the item as JSON (for scripts).")
@click.pass_obj
def next_(ctx: Context, task_name: str | None, reviewer: str | None, as_json: bool) -> None:
    """Lease the most urgent open item to you and show it.

    Order: items in the categories the last gate called worst, then unsure answers
    since the last drift alarm, then audits of confident answers, then the rest.
    The lease (review.lease_seconds) keeps other reviewers off it; ``next`` again
    shows the same item until you decide it or the lease runs out.
    """
    s = ctx.settings
    if task_name:
        s.task(task_name)

    async def body(service: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        result: dict[str, Any] | None = service.next(_who(reviewer), task_name)
        return result, service.stats(task_name)

    item, figures = _run(s, body)
    left = sum(f["open"] for f in figures.values())
    pace = sum(f["per_minute"] for f in figures.values())
    if item is None:
        if as_json:
            click.echo("null")
        else:
            console.print("nothing left to review")
        return
    if as_json:
        click.echo(json.dumps(item))
    else:
        _show(item)
        console.print(f"  {left} open, {pace:.1f} decided/min over the last 15 min", highlight=False)


def _decide(ctx: Context, item_id: str, task_name: str | None, reviewer: str | None, verdict: ReviewVerdict,
            answer: str | None) -> None:
    s = ctx.settings

    async def body(service: Any) -> ReviewDecision:
        task = task_name
        if task is None:
            found = service.queue.find(item_id)
            if len(found) > 1:
                raise ReviewError(f"item_id: {item_id!r} is in tasks {', '.join(i.task for i in found)}; "
                                  "say which with --task")
            if not found:
                raise ReviewError(f"item_id: {item_id!r} is not in the review queue; take the id "
                                  "`distillery review next` showed")
            task = found[0].task
        decision: ReviewDecision = await service.decide(task, item_id, _who(reviewer), verdict, answer, tool="cli")
        return decision

    try:
        d = _run(s, body)
    except ReviewError as exc:
        fail(str(exc))
    shown = f" as {d.answer if isinstance(d.answer, str) else json.dumps(d.answer)}" if d.answer is not None else ""
    console.print(f"{d.decision} {d.item_id}{shown} (task {d.task}) sent to {s.topics.reviewed}", highlight=False)


@review.command("accept")
@click.argument("item_id")
@task_option
@reviewer_option
@click.pass_obj
def accept(ctx: Context, item_id: str, task_name: str | None, reviewer: str | None) -> None:
    """Keep the teacher's answer: it becomes a human-checked training example."""
    _decide(ctx, item_id, task_name, reviewer, "accept", None)


@review.command("correct")
@click.argument("item_id")
@click.argument("answer")
@task_option
@reviewer_option
@click.pass_obj
def correct(ctx: Context, item_id: str, answer: str, task_name: str | None, reviewer: str | None) -> None:
    """Replace the teacher's answer with ANSWER (a label of the set, or JSON valid against the task's schema).

    The human label outranks the teacher's for this input (and inputs alike) in the
    next training snapshot.
    """
    _decide(ctx, item_id, task_name, reviewer, "correct", answer)


@review.command("skip")
@click.argument("item_id")
@task_option
@reviewer_option
@click.pass_obj
def skip(ctx: Context, item_id: str, task_name: str | None, reviewer: str | None) -> None:
    """Close the item without an answer: nothing is learnt from it."""
    _decide(ctx, item_id, task_name, reviewer, "skip", None)


@review.command("gold")
@click.argument("item_id")
@click.argument("answer", required=False)
@task_option
@reviewer_option
@click.pass_obj
def gold(ctx: Context, item_id: str, answer: str | None, task_name: str | None, reviewer: str | None) -> None:
    """Promote the item to the gold set, with ANSWER (or the teacher's answer when ANSWER is omitted).

    A gold row judges adapters and is never trained on.
    """
    _decide(ctx, item_id, task_name, reviewer, "promote_gold", answer)


@review.command("stats")
@task_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def stats(ctx: Context, task_name: str | None, as_json: bool) -> None:
    """Backlog, leases, pace, decisions, and the teacher's error rate per category as people found it."""
    s = ctx.settings
    if task_name:
        s.task(task_name)

    async def body(service: Any) -> dict[str, Any]:
        result: dict[str, Any] = service.stats(task_name)
        return result

    figures = _run(s, body)
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    for task, f in figures.items():
        eta = f"{f['eta_minutes']} min" if f["eta_minutes"] is not None else "-"
        console.print(f"[bold]{task}[/]: {f['open']} open ({f['leased']} leased), {f['decided']} decided, "
                      f"{f['per_minute']}/min, done in {eta}, curation cost ${f['cost_usd']:.2f}")
        if f["disagreement"]:
            table = Table("category", "reviewed", "disagreed", "teacher error rate")
            for cat, d in sorted(f["disagreement"].items(), key=lambda kv: -kv[1]["teacher_error_rate"]):
                table.add_row(cat, str(d["reviewed"]), str(d["disagreed"]), f"{d['teacher_error_rate']:.0%}")
            console.print(table)


@review.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@task_option
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True, help="At most this many items.")
@click.option("--config-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the Label Studio labeling config (XML) for --task here.")
@click.pass_obj
def export(ctx: Context, file: Path, task_name: str | None, limit: int, config_out: Path | None) -> None:
    """Write open items as Label Studio JSON tasks (the teacher's answer as a prediction).

    Import FILE into a Label Studio project whose labeling config is --config-out;
    bring the annotations back with ``distillery review import``.
    """
    from monitors.review.labelstudio import export_tasks, label_config

    s = ctx.settings
    if config_out is not None and task_name is None:
        raise click.UsageError("--config-out needs --task (one labeling config per task)")

    async def body(service: Any) -> list[dict[str, Any]]:
        return export_tasks(service.queue.open_items(task=task_name, limit=limit), s.tasks)

    tasks = _run(s, body)
    file.write_text(json.dumps(tasks, indent=1, ensure_ascii=False), encoding="utf-8")
    if config_out is not None and task_name is not None:
        config_out.write_text(label_config(s.task(task_name)), encoding="utf-8")
    console.print(f"wrote {len(tasks)} Label Studio tasks to {file}")


@review.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_(ctx: Context, file: Path) -> None:
    """Send the annotations of a Label Studio JSON export as review decisions.

    Per task the newest annotation counts: skipped is skip, the teacher's answer kept
    is accept, anything else is correct. Tasks that cannot be applied are listed and
    send nothing; the others are sent.
    """
    from monitors.review.labelstudio import import_decisions

    try:
        exported = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        fail(f"{file}: not JSON ({exc}); export the Label Studio project as JSON")

    async def body(service: Any) -> Any:
        got = import_decisions(exported, service.queue)
        for d in got.decisions:
            await service.send(d)
            service.queue.mark(d)
        return got

    try:
        got = _run(ctx.settings, body)
    except ReviewError as exc:
        fail(str(exc))
    for problem in got.problems:
        console.print(f"[yellow]not imported:[/] {problem}", highlight=False)
    console.print(f"sent {len(got.decisions)} decisions; {got.unannotated} tasks without annotations, "
                  f"{len(got.problems)} refused")


COMMANDS = [review]
