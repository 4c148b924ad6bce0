"""What the demo shows while it runs, read from Kafka like any other consumer.

A background thread follows the demo's counters, drift, job and adapter topics
and keeps a :class:`DemoState`; :func:`render` turns it into the live panel.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

import pydantic
from aiokafka import TopicPartition
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from console.demo.routed import RouteStats
from distillery.events import AdapterPublished, AdapterRejected, DriftEvent, GateMetrics, TrainJob
from distillery.kafka import consumer as kafka_consumer
from distillery.settings import Settings


@dataclass
class DemoState:
    """Everything the live view and the final summary need."""

    sent: int = 0
    sent_total: int = 0
    drift_at: int | None = None
    drift_sent_ms: int | None = None
    counts: dict[str, dict[str, float]] = field(default_factory=dict)
    drifts: list[DriftEvent] = field(default_factory=list)
    jobs: list[TrainJob] = field(default_factory=list)
    published: list[AdapterPublished] = field(default_factory=list)
    rejected: list[AdapterRejected] = field(default_factory=list)
    training: dict[str, dict[str, object]] = field(default_factory=dict)
    """job id → the trainer's latest progress (phase, step, max_steps, loss)."""
    served_by: str = "teacher"
    routed: RouteStats | None = None
    """What the router answered (the demo's own measurement, against ground truth)."""
    phase: str = "starting"
    started: float = field(default_factory=time.monotonic)
    notes: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    """What the demo's simulated reviewer did (:mod:`console.demo.review`)."""
    _workers: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def total(self, outcome: str, task: str | None = None) -> float:
        return sum(c.get(outcome, 0) for t, c in self.counts.items() if task in (None, t))


class Follower:
    """Follows the demo's topics in a thread until stopped."""

    def __init__(self, settings: Settings, state: DemoState) -> None:
        self.settings = settings
        self.state = state
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._follow())

    async def _follow(self) -> None:
        t = self.settings.topics
        wanted = [t.counters, t.drift, t.train_jobs, t.published, t.rejected]
        consumer = kafka_consumer(self.settings.kafka, enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            parts = [TopicPartition(name, p) for name in wanted for p in range(self.settings.kafka.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=300, max_records=2000)
                for recs in batch.values():
                    for r in recs:
                        self._apply(r.topic, r.key, r.value)
        finally:
            await consumer.stop()

    def _apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        t, s = self.settings.topics, self.state
        try:
            if topic == t.counters and key is not None:
                snap = json.loads(value or b"{}")
                if snap.get("role") == "trainer" and snap.get("job"):
                    s.training[snap["job"]["job_id"]] = snap["job"]
                s._workers[key.decode()] = snap.get("counts", {})
                merged: dict[str, dict[str, float]] = {}
                for counts in s._workers.values():
                    for task, c in counts.items():
                        for k, v in c.items():
                            merged.setdefault(task, {})[k] = merged.get(task, {}).get(k, 0) + v
                s.counts = merged
            elif topic == t.drift:
                s.drifts.append(DriftEvent.model_validate_json(value or b""))
            elif topic == t.train_jobs:
                s.jobs.append(TrainJob.model_validate_json(value or b""))
            elif topic == t.published:
                s.published.append(AdapterPublished.model_validate_json(value or b""))
            elif topic == t.rejected:
                s.rejected.append(AdapterRejected.model_validate_json(value or b""))
        except (ValueError, pydantic.ValidationError):
            s.notes.append(f"skipped a malformed message on {topic}")


def served_by(state: DemoState) -> str:
    """Who answers production now: the teacher, or the router (student share so far)."""
    r = state.routed
    if r is None or not r.total:
        return state.served_by
    share = r.share("student") or 0.0
    return f"router (student {share:.0%}, teacher the rest)"


def progress_text(job: dict[str, object] | None) -> str:
    """``training 12/30 · loss 1.234`` from a trainer's progress, or ``queued``.

    >>> progress_text({"phase": "training", "step": 12, "max_steps": 30, "loss": 1.2345})
    'training 12/30 · loss 1.234'
    >>> progress_text({"phase": "judging", "step": 30, "max_steps": 30, "loss": None}), progress_text(None)
    ('judging', 'queued')
    """
    if not job:
        return "queued"
    if job.get("phase") != "training" or not job.get("max_steps"):
        return str(job.get("phase"))
    loss = job.get("loss")
    tail = f" · loss {loss:.3f}" if isinstance(loss, float) else ""
    return f"training {job.get('step')}/{job.get('max_steps')}{tail}"


def router_table(r: RouteStats) -> Table:
    """Per route: share, accuracy against ground truth, the teacher's on the same items, latency."""
    table = Table(title=f"router: {r.total:,} requests through /v1/chat/completions", title_justify="left",
                  box=None, header_style="bold")
    for col in ("route", "share", "accuracy", "teacher on same", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"

    for route in ("student", "teacher"):
        table.add_row(route if route == "student" else "teacher (escalated)", pct(r.share(route)),
                      pct(r.accuracy(route)), pct(r.teacher_accuracy(route)), ms(r.latency_ms(route, 0.5)),
                      ms(r.latency_ms(route, 0.99)))
    table.add_row("routed system", "", pct(r.routed_accuracy()), "", "", "")
    return table


def render(state: DemoState) -> Panel:
    """The live panel: traffic, labels, spend, drift, jobs and adapters."""
    elapsed = time.monotonic() - state.started
    head = Text.assemble(("phase ", "dim"), (state.phase, "bold cyan"), ("   elapsed ", "dim"),
                         (f"{elapsed:,.0f}s", "bold"), ("   production answered by ", "dim"),
                         (served_by(state), "bold green" if state.routed and state.routed.total else "bold yellow"))
    c = state.total
    pct = 100.0 * state.sent / state.sent_total if state.sent_total else 0.0
    grid = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("sent", "labeled", "review", "dead-lettered", "skipped", "gold", "teacher calls", "spend"):
        grid.add_column(col, justify="right")
    skipped = c("skip_rate") + c("skip_duplicate") + c("skip_budget")
    grid.add_row(f"{state.sent:,} ({pct:.0f}%)", f"{c('labeled'):,.0f}", f"{c('review') + c('rejected'):,.0f}",
                 f"{c('deadlettered'):,.0f}", f"{skipped:,.0f}", f"{c('gold'):,.0f}",
                 f"{c('teacher_calls'):,.0f}", f"${c('spend_usd'):,.4f}")
    drift = Table(title="drift alarms", title_justify="left", box=None, header_style="bold")
    for col in ("signal", "detector", "before → after", "severity", "at offset"):
        drift.add_column(col)
    for d in state.drifts[-5:]:
        before = "-" if d.estimate_before is None else f"{d.estimate_before:.3f}"
        after = "-" if d.estimate_after is None else f"{d.estimate_after:.3f}"
        drift.add_row(d.signal, d.detector, f"{before} → {after}", d.severity, str(d.source_offset))
    models = Table(title="train jobs and adapters", title_justify="left", box=None, header_style="bold")
    for col in ("job", "reason", "train", "verdict", "student", "routed", "coverage", "teacher", "base", "worst"):
        models.add_column(col)
    verdicts: dict[str, tuple[str, GateMetrics | None]] = {p.job_id: ("promoted", p.metrics)
                                                            for p in state.published}
    verdicts.update({r.job_id: ("rejected: " + ", ".join(r.failed_rules or [r.reason])[:40], r.metrics)
                     for r in state.rejected})
    for j in state.jobs[-6:]:
        verdict, m = verdicts.get(j.job_id, (progress_text(state.training.get(j.job_id)), None))
        acc = f"{m.candidate.accuracy:.1%}" if m else "-"
        teacher = f"{m.teacher.accuracy:.1%}" if m and m.teacher else "-"
        base = f"{m.base.accuracy:.1%}" if m and m.base else "-"
        worst = f"{m.candidate.worst_category}" if m and m.candidate.worst_category else "-"
        routed = f"{m.routed.accuracy:.1%}" if m and m.routed else "-"
        coverage = f"{m.routed.coverage:.0%}" if m and m.routed else "-"
        models.add_row(j.job_id[-16:], j.reason, str(j.n_train), verdict, acc, routed, coverage, teacher, base, worst)
    parts: list[object] = [head, grid, drift, models]
    if state.routed is not None and state.routed.total:
        parts.append(router_table(state.routed))
    if state.notes:
        parts.append(Text(state.notes[-1], style="yellow"))
    return Panel(Group(*parts), title="[bold]Distillery demo[/]", border_style="cyan")  # type: ignore[arg-type]
