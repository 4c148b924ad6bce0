"""``distillery demo``: the whole loop on this machine, then the report."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console

from distillery.cli.common import Context
from distillery.cli.kafka_cmd import local_broker

console = Console()


@click.command("demo")
@click.option("--quick", is_flag=True, help="A smaller run (about five minutes on a laptop CPU).")
@click.option("--events", type=int, default=None, help="Synthetic events to send (default 60,000; quick 14,000).")
@click.option("--rate", type=float, default=None, help="Events per second (default 300; quick 500).")
@click.option("--drift-at", type=int, default=None, help="Event at which the traffic drifts (default 30,000; quick 8,000: after the detectors calibrate).")
@click.option("--replay", "replay_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Use your own log file (JSONL or CSV) instead of synthetic traffic.")
@click.option("--input-col", default="input", show_default=True)
@click.option("--label-col", default="label", show_default=True)
@click.option("--output-col", default="output", show_default=True)
@click.option("--shift-category", default=None, help="With --replay: category that becomes common at --drift-at.")
@click.option("--shift-share", type=float, default=0.3, show_default=True)
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("report.html"), show_default=True, help="Where to write the HTML report.")
@click.pass_obj
def demo(ctx: Context, quick: bool, events: int | None, rate: float | None, drift_at: int | None,
         replay_file: Path | None, input_col: str, label_col: str, output_col: str, shift_category: str | None,
         shift_share: float, report_path: Path) -> None:
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
    from distillery.demo.runner import DemoPlan, demo_settings, run_demo, summary_lines
    from distillery.replay import load_rows, shift_mix

    base = ctx.settings
    plan = DemoPlan.quick() if quick else DemoPlan.full()
    changes = {k: v for k, v in (("events", events), ("rate", rate), ("drift_at", drift_at)) if v is not None}
    if changes:
        plan = plan.__class__(**{**plan.__dict__, **changes})
    if events is not None and drift_at is None:
        plan = plan.__class__(**{**plan.__dict__, "drift_at": events // 2})
    if not base.kafka.external:
        with console.status("starting Kafka (the first run resolves the jars with Maven) ..."):
            local_broker(base).up()
    run_id = time.strftime("%Y%m%d-%H%M%S")
    settings = demo_settings(base, run_id)
    rows, total = None, None
    if replay_file is not None:
        loaded = load_rows(replay_file, input_col=input_col, label_col=label_col or None,
                           output_col=output_col or None)
        total = len(loaded)
        rows = iter(shift_mix(loaded, at=plan.drift_at, category=shift_category, share=shift_share, seed=plan.seed))
    console.rule(f"[bold]Distillery demo[/] run {run_id}: {total or plan.events:,} events at {plan.rate:.0f}/s")
    state = run_demo(settings, plan, console, rows=rows, total=total)
    console.rule("[bold]What happened")
    for line in summary_lines(state):
        console.print(line)
    from serving.report.build import build_report
    from serving.report.data import collect
    from serving.report.render_html import render_page
    from serving.report.render_terminal import render

    reports = [build_report(inputs) for inputs in collect(settings, sorted(settings.tasks))]
    for r in reports:
        render(r, console)
    report_path.write_text(render_page(reports, int(time.time() * 1000)))
    console.print(f"report written to [bold]{report_path}[/]; worker logs in {settings.data_dir / 'logs'}")


COMMANDS = [demo]
