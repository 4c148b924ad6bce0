"""``distillery demo``: the whole loop on this machine, then the report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from console.common import Context
from console.kafka_cmd import local_broker

if TYPE_CHECKING:
    from distillery.replay import Row
    from distillery.settings import Settings

console = Console()


@click.command("demo")
@click.option("--quick", is_flag=True, help="A smaller run (about five minutes on a laptop CPU).")
@click.option("--events", type=int, default=None, help="Synthetic events to send (default 60,000; quick 14,000).")
@click.option("--rate", type=float, default=None, help="Events per second (default 300; quick 500).")
@click.option("--drift-at", type=int, default=None, help="Event at which the traffic drifts (default 30,000; quick 8,000). The monitors compare with a reference from the first events, so any point works.")
@click.option("--replay", "replay_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Use your own log file (JSONL or CSV) instead of synthetic traffic.")
@click.option("--task", "task_name", default=None,
              help="The task the traffic is for. Synthetic traffic: transactions. With --replay: a task declared in "
                   "the config is used as is; another name (default: the file's name) is derived from the file "
                   "(labels from the label column, other settings from the transactions task).")
@click.option("--input-col", default="input", show_default=True)
@click.option("--label-col", default="label", show_default=True)
@click.option("--output-col", default="output", show_default=True)
@click.option("--shift-category", default=None, help="With --replay: category that becomes common at --drift-at.")
@click.option("--shift-share", type=float, default=0.3, show_default=True)
@click.option("--train-wait", "train_wait", type=click.FloatRange(min=0), default=None, metavar="MINUTES",
              help="A fixed wait after the traffic for the train jobs in flight. Default: until every job "
                   "has its verdict, as long as one moves (a training step or a phase) at least every 5 minutes, "
                   "40 minutes at most; on 2 cores the warm-started job over the demo's later windows needs "
                   "about 15 minutes. The quick run waits 8 minutes at most.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("report.html"), show_default=True, help="Where to write the HTML report.")
@click.pass_obj
def demo(ctx: Context, quick: bool, events: int | None, rate: float | None, drift_at: int | None,
         replay_file: Path | None, task_name: str | None, input_col: str, label_col: str, output_col: str,
         shift_category: str | None, shift_share: float, train_wait: float | None, report_path: Path) -> None:
    """Run the whole loop locally and end with the report.

    Starts the local Kafka broker; the streams, monitors and trainer workers; the
    adapter subscriber; and a teacher (the real one when OPENAI_API_KEY is set, else a
    simulated frontier model over an OpenAI-compatible API). Then it sends traffic at a
    few hundred events per second — bank transactions into about forty categories, or
    your own log with --replay — drifts it halfway, and shows events, labels, spend,
    drift alarms, train jobs and adapters live. At the end: when drift was detected
    against the injected change, every adapter with its gold-set accuracy against the
    teacher's and the base model's, and the cost and months to break even (also written
    as report.html).
    """
    from console.demo.runner import DemoPlan, demo_settings, run_demo, summary_lines
    from distillery.replay import load_rows, shift_mix

    base = ctx.settings
    plan = DemoPlan.quick() if quick else DemoPlan.full()
    changes = {k: v for k, v in (("events", events), ("rate", rate), ("drift_at", drift_at),
                                 ("train_wait_s", None if train_wait is None else 60 * train_wait)) if v is not None}
    if changes:
        plan = plan.__class__(**{**plan.__dict__, **changes})
    if events is not None and drift_at is None:
        plan = plan.__class__(**{**plan.__dict__, "drift_at": events // 2})
    task = task_name or "transactions"
    if replay_file is None and task != "transactions":
        raise click.UsageError(f"--task {task}: synthetic traffic is the transactions task; "
                               "give --replay FILE to run another task on your own log")
    run_id = time.strftime("%Y%m%d-%H%M%S")
    settings = demo_settings(base, run_id)
    rows, total, teacher = None, None, None
    if replay_file is not None:
        # the task is settled before anything starts: a refused label column costs no broker start
        loaded = load_rows(replay_file, input_col=input_col, label_col=label_col or None,
                           output_col=output_col or None)
        settings, task = _replay_task(settings, loaded, task_name, replay_file, label_col)
        total = len(loaded)
        rows = iter(shift_mix(loaded, at=plan.drift_at, category=shift_category, share=shift_share, seed=plan.seed))
        from devkit.sim.teacher_model import ReplayTeacher

        teacher = ReplayTeacher(settings.task(task).labels,
                                {r.input: r.label for r in loaded if r.label is not None}, seed=plan.seed)
    if not base.kafka.external:
        with console.status("starting Kafka (the first run resolves the jars with Maven) ..."):
            local_broker(base).up()
    console.rule(f"[bold]Distillery demo[/] run {run_id}: {total or plan.events:,} events of task {task!r} "
                 f"at {plan.rate:.0f}/s")
    state = run_demo(settings, plan, console, rows=rows, total=total, task=task, teacher=teacher)
    console.rule("[bold]What happened")
    for line in summary_lines(state):
        console.print(line)
    from serving.report.build import build_report
    from serving.report.data import collect
    from serving.report.render_html import render_page
    from serving.report.render_terminal import render

    reports = [build_report(inputs) for inputs in collect(settings, [task])]
    for r in reports:
        render(r, console)
    report_path.write_text(render_page(reports, int(time.time() * 1000)))
    console.print(f"report written to [bold]{report_path}[/]; worker logs in {settings.data_dir / 'logs'}")


def _replay_task(settings: Settings, rows: list[Row], task_name: str | None, file: Path,
                 label_col: str) -> tuple[Settings, str]:
    """The settings and task a replay runs with; the console says where the task came from."""
    from rich.markup import escape

    from console.demo.config_file import write_run_config
    from console.demo.tasks import TEMPLATE_TASK, replay_task

    chosen = replay_task(settings, rows, task=task_name, source=str(file), label_col=label_col)
    spec, column = chosen.spec, escape(repr(label_col))
    if not chosen.derived:
        console.print(f"task [bold]{chosen.name}[/]: declared in the config, used as is")
        if chosen.unknown_labels:
            shown = escape(", ".join(f"row {n}: {label!r}" for n, label in chosen.examples))
            more = ", ..." if chosen.unknown_labels > len(chosen.examples) else ""
            console.print(f"[yellow]warning:[/] {chosen.unknown_labels:,} of {len(rows):,} rows carry a {column} "
                          f"label that is not in the task's label set ({shown}{more}); no answer can match "
                          "their ground truth", highlight=False)
        return chosen.settings, chosen.name
    listed = ", ".join(spec.labels[:10]) + (f", ... ({len(spec.labels)} in all)" if len(spec.labels) > 10 else "")
    template = TEMPLATE_TASK if TEMPLATE_TASK in settings.tasks else "built-in default"
    console.print(f"task [bold]{chosen.name}[/]: not declared in the config, so derived from "
                  f"{escape(file.name)}: classification into the {column} column's labels ({escape(listed)}); "
                  "generic teacher and student prompts built from the name and the labels; every other "
                  f"setting copied from the {template} task", highlight=False)
    run_settings = write_run_config(chosen.settings, spec, settings.data_dir / "distillery.toml")
    console.print(f"the workers read it from {escape(str(run_settings.config_path))}; declare "
                  f"{escape(f'[tasks.{chosen.name}]')} in your config to set its prompts and gate yourself",
                  highlight=False)
    return run_settings, chosen.name


COMMANDS = [demo]
