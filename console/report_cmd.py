"""``distillery report``: the live break-even report of each task."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from console.common import Context
from distillery.events import now_ms

err = Console(stderr=True)


@click.command("report")
@click.option("--task", "task_names", multiple=True, metavar="TASK",
              help="Report on this task (repeatable; default: every task in the config).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="What goes to stdout: rich tables, or the JSON document.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the JSON document to this file.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a self-contained HTML page (inline SVG charts, no scripts) to this file.")
@click.option("--student-share", type=click.FloatRange(0.0, 1.0), default=None,
              help="Assume this share of traffic for the student (labeled an assumption) "
                   "[default: measured on routed events, else the gate's coverage calibrated on gold, "
                   "else no break-even].")
@click.option("--horizon-months", type=click.FloatRange(0.0, min_open=True), default=12.0, show_default=True,
              help="Volume passes when break-even falls within this many months.")
@click.option("--min-gold", type=click.IntRange(1), default=200, show_default=True,
              help="Gold examples the candidate must be scored on for the eval to count as proof.")
@click.option("--max-stale-share", type=click.FloatRange(0.0, 1.0), default=0.2, show_default=True,
              help="Stability: most traffic a stale student may serve while retraining after drift.")
@click.option("--max-drift-per-week", type=click.FloatRange(0.0), default=2.0, show_default=True,
              help="Stability: most drift episodes per week (checked once a week of traffic is stored).")
@click.option("--blind-spot", "blind_spot", type=click.FloatRange(0.0, 1.0), default=0.7, show_default=True,
              help="A category where the teacher scores below this on gold is marked a teacher blind spot.")
@click.option("--no-kafka", is_flag=True,
              help="Read only the DuckDB stores; adapters, drift alarms and counters then count as none.")
@click.pass_obj
def report(ctx: Context, task_names: tuple[str, ...], fmt: str, json_path: Path | None, html_path: Path | None,
           student_share: float | None, horizon_months: float, min_gold: int, max_stale_share: float,
           max_drift_per_week: float, blind_spot: float, no_kafka: bool) -> None:
    """Show whether distilling each task pays: costs, savings, break-even, and the verdict.

    Reads the task's DuckDB store (teacher spend, request tokens, routed traffic
    and the student's answers on it, agreement per window, gold set) and, from
    Kafka, the published and rejected adapters (training time, gold-set scores of
    the student alone, the teacher and the routed system, router threshold and
    coverage), drift alarms and worker counters. The student share is measured on
    routed traffic, else the gate's coverage calibrated on gold; with neither
    there is no break-even. Prices, volume and fixed costs come from the task's
    [tasks.NAME.economics] table. The decision table checks volume, stability,
    the eval, the teacher match (of the routed system when the gate measured it)
    and the capability ceiling; a per-category table marks the teacher's blind spots.

    \b
    Examples:
      distillery report                          every task, as tables
      distillery report --task transactions --html report.html --json report.json
      distillery report --format json --student-share 0.85 > report.json
    """
    # Imported here so the rest of the CLI works even where the serving package is not installed.
    from serving.report.build import build_report
    from serving.report.data import collect
    from serving.report.decision import Thresholds
    from serving.report.render_html import render_page
    from serving.report.render_json import to_json
    from serving.report.render_terminal import render

    s = ctx.settings
    tasks = list(task_names) or sorted(s.tasks)
    if not tasks:
        raise click.UsageError("the config declares no task; add a [tasks.NAME] table")
    for name in tasks:
        s.task(name)  # an unknown task fails here, listing the declared ones
    thresholds = Thresholds(horizon_months=horizon_months, min_gold=min_gold, max_stale_share=max_stale_share,
                            max_drift_per_week=max_drift_per_week, blind_spot_accuracy=blind_spot)
    generated = now_ms()
    reports = [build_report(inputs, thresholds, student_share)
               for inputs in collect(s, tasks, use_kafka=not no_kafka)]
    document = to_json(reports, generated)
    if fmt == "json":
        click.echo(document)
    else:
        out = Console()
        for r in reports:
            render(r, out)
    if json_path is not None:
        json_path.write_text(document + "\n", encoding="utf-8")
        err.print(f"wrote {json_path}")
    if html_path is not None:
        html_path.write_text(render_page(reports, generated), encoding="utf-8")
        err.print(f"wrote {html_path}")


COMMANDS = [report]
