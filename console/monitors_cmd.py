"""``distillery monitors`` (the drift worker) and ``distillery drift tail`` (drift events, for people on call)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import click
import pydantic
from aiokafka import ConsumerRecord, TopicPartition
from rich.console import Console
from rich.text import Text

from console.common import Context
from distillery.events import DriftEvent
from distillery.kafka import consumer as kafka_consumer
from distillery.settings import Settings

SEVERITY_STYLE = {"info": "bold cyan", "warning": "bold yellow", "critical": "bold white on red"}


@click.command("monitors")
@click.option("--http-port", type=click.IntRange(0, 65535), default=None,
              help="Prometheus endpoint port (default: monitors.http_port; 0 = any free port).")
@click.option("--web-port", type=click.IntRange(0, 65535), default=None,
              help="Ops page port (default: monitors.web_port; 0 = any free port).")
@click.option("--host", default=None,
              help="Address both listen on (default: monitors.host, 127.0.0.1; a non-loopback address needs "
                   "DISTILLERY_API_KEYS).")
@click.pass_obj
def monitors(ctx: Context, http_port: int | None, web_port: int | None, host: str | None) -> None:
    """Run a monitors worker: drift detectors per task, drift events, metrics and the ops page.

    Start several to scale out: they share the consumer group and split the tasks.
    Detector state is checkpointed under DATA_DIR/monitors (share it between replicas).
    The ops page needs a key from DISTILLERY_API_KEYS (a browser asks for it as the
    password); /metrics is open unless [http] protect_metrics; /healthz and /readyz
    (joined and at most [http] ready_max_lag behind) are always open.
    """
    from monitors.app import run_worker

    settings = ctx.settings
    changes = {k: v for k, v in (("http_port", http_port), ("web_port", web_port), ("host", host)) if v is not None}
    if changes:
        settings = settings.with_overrides(monitors=settings.monitors.model_copy(update=changes))
    run_worker(settings)


def _level(signal: str, value: float | None) -> str:
    if value is None:
        return "?"
    if signal == "input_length":
        return f"{value:.1f} chars"
    if signal == "category_mix":
        return f"{value:.3f}"
    return f"{100 * value:.1f}%"


def format_drift(ev: DriftEvent) -> Text:
    """One drift event as one line a person can act on: when, what moved, how much, where it fired.

    >>> ev = DriftEvent(task="transactions", signal="agreement", detector="ADWIN", estimate_before=0.95,
    ...                 estimate_after=0.82, severity="critical", source_topic="distill.labeled",
    ...                 source_partition=2, source_offset=5247, events_seen=5247, detected_at_ms=0)
    >>> format_drift(ev).plain[19:]
    '  CRITICAL  transactions  agreement  95.0% → 82.0%  (ADWIN)  at distill.labeled[2]@5247, 5,247 seen'
    """
    when = datetime.fromtimestamp(ev.detected_at_ms / 1000).strftime("%Y-%m-%d %H:%M:%S")
    line = Text(when, style="dim")
    line.append("  ")
    line.append(f"{ev.severity.upper():8}", style=SEVERITY_STYLE.get(ev.severity, "bold"))
    line.append("  ")
    line.append(ev.task, style="bold")
    line.append("  ")
    line.append(ev.signal, style="magenta")
    line.append(f"  {_level(ev.signal, ev.estimate_before)} → {_level(ev.signal, ev.estimate_after)}")
    line.append(f"  ({ev.detector})", style="dim")
    if ev.source_topic is not None:
        line.append(f"  at {ev.source_topic}[{ev.source_partition}]@{ev.source_offset}")
    line.append(f", {ev.events_seen:,} seen", style="dim")
    for moved in ev.detail.get("moved", [])[:3] if isinstance(ev.detail.get("moved"), list) else []:
        if isinstance(moved, dict) and {"category", "share_before", "share_after"} <= moved.keys():
            line.append(f"\n    {moved['category']}: {100 * moved['share_before']:.1f}% → "
                        f"{100 * moved['share_after']:.1f}%", style="dim")
    return line


def format_skipped(rec: ConsumerRecord[bytes, bytes], why: str) -> Text:
    """A message on the drift topic that is not a drift event: labeled, never fatal."""
    return Text(f"skipped a message at {rec.topic}[{rec.partition}]@{rec.offset} that is not a drift event: "
                f"{why}", style="dim italic")


async def tail(settings: Settings, console: Console, *, from_beginning: bool, task: str | None,
               stop: asyncio.Event | None = None) -> None:
    """Print drift events as they arrive (all of them first with ``from_beginning``)."""
    from monitors.handlers import describe

    stop = stop or asyncio.Event()
    topic = settings.topics.drift
    consumer = kafka_consumer(settings.kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            console.print(f"[dim]waiting for topic {topic}…[/]")
        while not parts and not stop.is_set():
            await asyncio.sleep(1.0)
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts or ())]
        consumer.assign(tps)
        await (consumer.seek_to_beginning(*tps) if from_beginning else consumer.seek_to_end(*tps))
        console.print(f"[dim]following {topic}{f' for task {task}' if task else ''} (Ctrl-C to stop)[/]")
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for rec in sorted((r for recs in batch.values() for r in recs), key=lambda r: r.timestamp):
                if rec.value is None:
                    console.print(format_skipped(rec, "empty message (tombstone)"))
                    continue
                try:
                    ev = DriftEvent.model_validate_json(rec.value)
                except pydantic.ValidationError as exc:
                    console.print(format_skipped(rec, describe(exc)))
                    continue
                if task is None or ev.task == task:
                    console.print(format_drift(ev))
    finally:
        await consumer.stop()


@click.group("drift")
def drift() -> None:
    """Drift events raised by the monitors."""


@drift.command("tail")
@click.option("--from-beginning", is_flag=True, help="Print every drift event kept, then follow.")
@click.option("--task", "-t", default=None, help="Only this task's drift events.")
@click.pass_obj
def drift_tail(ctx: Context, from_beginning: bool, task: str | None) -> None:
    """Print drift events as they arrive: time, severity, task, signal, before → after, where it fired."""
    console = Console(highlight=False, soft_wrap=True)
    try:
        asyncio.run(tail(ctx.settings, console, from_beginning=from_beginning, task=task))
    except KeyboardInterrupt:
        pass


COMMANDS = [monitors, drift]
