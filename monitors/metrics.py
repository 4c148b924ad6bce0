"""What the monitors worker measures, for the Prometheus endpoint and the ops page.

Pure bookkeeping, no Kafka: the worker feeds :class:`TaskStats` as it reads a
task's records and :class:`Ops` with what concerns the whole process (invalid
and malformed messages, consumer lag, the streams workers' counter snapshots
from ``ops.counters``). :class:`OpsCollector` turns one :class:`Ops` into
Prometheus metric families at scrape time, so nothing is double-booked.

Charts need history that does not depend on how fast events arrive, so series
are built from buckets of ``bucket`` records rather than from clock ticks: one
agreement point per ``bucket`` teacher answers the student's answer can be
compared with, one category-mix point per ``bucket`` answered requests.

>>> s = TaskStats("transactions", bucket=2)
>>> for i, agree in enumerate([True, False, True, True]):
...     s.on_teacher(agree=agree, t_ms=1000 * i, level=0.75)
>>> [(p[0], p[1]) for p in s.agreement]
[(1000, 0.5), (3000, 1.0)]
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from distillery.counters import merge
from distillery.events import DriftEvent

STATS_FORMAT = 1
"""Version of :meth:`TaskStats.state`'s layout."""

ALARMS_KEPT = 200
"""Recent alarms each task keeps for the ops page."""


class TaskStats:
    """One task's counts, chart series and alarms (checkpointed with its monitor).

    Parameters
    ----------
    task
        The task these numbers belong to.
    bucket
        Records per chart point.
    points
        Points kept per series; older ones are dropped.
    """

    def __init__(self, task: str, *, bucket: int = 100, points: int = 500) -> None:
        self.task = task
        self.bucket = bucket
        self.points = points
        self.counts: dict[str, float] = defaultdict(float)
        self.alarm_counts: Counter[tuple[str, str]] = Counter()
        self.agreement: deque[tuple[int, float, float | None]] = deque(maxlen=points)
        self.categories: deque[tuple[int, dict[str, float], float | None]] = deque(maxlen=points)
        self.alarms: deque[dict[str, Any]] = deque(maxlen=ALARMS_KEPT)
        self.levels: dict[str, float | None] = {}
        self.events_seen: dict[str, int] = {}
        self.vocabulary_size = 0
        self.references: dict[str, str] = {}
        self._agree = [0, 0]
        self._cats: Counter[str] = Counter()

    # ----------------------------------------------------------- records
    def on_inference(self, category: str | None, *, t_ms: int, distance: float | None) -> None:
        """One valid request; its answer's category (if any) goes to the mix chart."""
        self.counts["events_in"] += 1
        if category is None:
            return
        self._cats[category] += 1
        n = sum(self._cats.values())
        if n >= self.bucket:
            shares = {c: round(k / n, 6) for c, k in sorted(self._cats.items())}
            self.categories.append((t_ms, shares, distance))
            self._cats.clear()

    def on_teacher(self, *, agree: bool | None, t_ms: int, level: float | None, rejected: bool = False,
                   cost_usd: float = 0.0) -> None:
        """One teacher answer: labeled or sent to review, and whether the student agreed (if known)."""
        self.counts["sampled"] += 1
        self.counts["review" if rejected else "labeled"] += 1
        self.counts["spend_usd"] += cost_usd
        if agree is None:
            return
        self._agree[0] += 1
        self._agree[1] += int(agree)
        if self._agree[0] >= self.bucket:
            n, k = self._agree
            self.agreement.append((t_ms, k / n, level))
            self._agree = [0, 0]

    def on_dead_letter(self) -> None:
        self.counts["deadlettered"] += 1

    def on_alarm(self, drift: DriftEvent) -> None:
        """A drift event this task raised."""
        self.alarm_counts[(drift.signal, drift.severity)] += 1
        self.alarms.append({
            "t_ms": drift.event_ts_ms or drift.detected_at_ms,
            "detected_at_ms": drift.detected_at_ms,
            "signal": drift.signal,
            "detector": drift.detector,
            "severity": drift.severity,
            "before": drift.estimate_before,
            "after": drift.estimate_after,
            "drift_id": drift.drift_id,
            "where": (f"{drift.source_topic}[{drift.source_partition}]@{drift.source_offset}"
                      if drift.source_topic else ""),
        })

    def refresh(self, levels: Mapping[str, float | None], events_seen: Mapping[str, int],
                vocabulary_size: int, *, references: Mapping[str, str] | None = None) -> None:
        """The monitor's current detector levels (and which reference each compares with), for gauges and the page."""
        self.levels = dict(levels)
        self.references = dict(references or {})
        self.events_seen = dict(events_seen)
        self.vocabulary_size = vocabulary_size

    # ------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        """Everything to restore these stats after a restart (JSON-able)."""
        return {
            "format": STATS_FORMAT,
            "task": self.task,
            "counts": dict(self.counts),
            "alarm_counts": [[s, v, n] for (s, v), n in self.alarm_counts.items()],
            "agreement": [list(p) for p in self.agreement],
            "categories": [list(p) for p in self.categories],
            "alarms": list(self.alarms),
            "pending_agree": list(self._agree),
            "pending_categories": dict(self._cats),
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state` (bucket and history length stay this process's)."""
        self.counts = defaultdict(float, state.get("counts", {}))
        self.alarm_counts = Counter({(s, v): n for s, v, n in state.get("alarm_counts", [])})
        self.agreement = deque((tuple(p) for p in state.get("agreement", [])), maxlen=self.points)  # type: ignore[misc]
        self.categories = deque((tuple(p) for p in state.get("categories", [])), maxlen=self.points)  # type: ignore[misc]
        self.alarms = deque(state.get("alarms", []), maxlen=ALARMS_KEPT)
        self._agree = list(state.get("pending_agree", [0, 0]))
        self._cats = Counter(state.get("pending_categories", {}))

    def view(self) -> dict[str, Any]:
        """The task as the ops page's JSON shows it."""
        return {
            "task": self.task,
            "counts": dict(self.counts),
            "levels": self.levels,
            "events_seen": self.events_seen,
            "vocabulary_size": self.vocabulary_size,
            "references": self.references,
            "bucket": self.bucket,
            "agreement": [{"t_ms": t, "rate": r, "level": lv} for t, r, lv in self.agreement],
            "categories": [{"t_ms": t, "shares": s, "distance": d} for t, s, d in self.categories],
            "alarms": list(self.alarms),
        }


@dataclass
class Ops:
    """The whole monitors process: its tasks and what belongs to no task."""

    tasks: dict[str, TaskStats] = field(default_factory=dict)
    invalid: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    deadlettered_unknown: int = 0
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    worker_counters: dict[str, dict[str, Any]] = field(default_factory=dict)
    drift_published: int = 0
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def on_counters(self, key: str, snapshot: dict[str, Any] | None) -> None:
        """The latest counter snapshot of one streams worker (``None``: a tombstone, forget it)."""
        if snapshot is None:
            self.worker_counters.pop(key, None)
        else:
            self.worker_counters[key] = snapshot

    def outcomes(self) -> dict[str, dict[str, float]]:
        """Streams outcomes per task, summed over every worker's latest snapshot."""
        return merge(list(self.worker_counters.values()))

    def view(self) -> dict[str, Any]:
        """The JSON the ops page polls."""
        return {
            "generated_ms": int(time.time() * 1000),
            "started_ms": self.started_ms,
            "tasks": {name: s.view() for name, s in sorted(self.tasks.items())},
            "outcomes": self.outcomes(),
            "invalid": dict(self.invalid),
            "malformed": dict(self.malformed),
            "lag": [{"topic": t, "partition": p, "lag": n} for (t, p), n in sorted(self.lag.items())],
            "drift_published": self.drift_published,
        }


def _counter(name: str, doc: str, labels: list[str], rows: Iterator[tuple[list[str], float]]) -> Metric:
    fam = CounterMetricFamily(name, doc, labels=labels)
    for values, v in rows:
        fam.add_metric(values, v)
    return fam


def _gauge(name: str, doc: str, labels: list[str], rows: Iterator[tuple[list[str], float]]) -> Metric:
    fam = GaugeMetricFamily(name, doc, labels=labels)
    for values, v in rows:
        fam.add_metric(values, v)
    return fam


class OpsCollector(Collector):
    """Prometheus metrics read from an :class:`Ops` at each scrape."""

    def __init__(self, ops: Ops) -> None:
        self.ops = ops

    def collect(self) -> Iterator[Metric]:
        ops, tasks = self.ops, self.ops.tasks
        outcomes = ops.outcomes()

        def per_task(key: str) -> Iterator[tuple[list[str], float]]:
            return (([t], s.counts.get(key, 0)) for t, s in sorted(tasks.items()))

        def from_streams(outcome: str) -> Iterator[tuple[list[str], float]]:
            return (([t], c[outcome]) for t, c in sorted(outcomes.items()) if outcome in c)

        yield _counter("distillery_events_in", "Valid inference events read, per task.", ["task"],
                       per_task("events_in"))
        yield _counter("distillery_events_invalid", "Messages on inference.events that fail validation "
                       "(streams dead-letters them).", ["reason"], ((([r], n) for r, n in sorted(ops.invalid.items()))))
        yield _counter("distillery_malformed_messages", "Unreadable or foreign messages on other input topics.",
                       ["topic"], (([t], n) for t, n in sorted(ops.malformed.items())))
        dead = list(per_task("deadlettered"))
        if ops.deadlettered_unknown:
            dead.append((["_unknown"], ops.deadlettered_unknown))
        yield _counter("distillery_deadlettered", "Records read from distill.deadletter, per task.", ["task"],
                       iter(dead))
        yield _counter("distillery_sampled", "Sampled events the teacher answered (labeled or sent to review).",
                       ["task"], per_task("sampled"))
        yield _counter("distillery_teacher_calls", "Teacher calls, from the streams workers' counters.", ["task"],
                       from_streams("teacher_calls"))
        yield _counter("distillery_teacher_spend_usd", "Teacher spend in USD, from the streams workers' counters.",
                       ["task"], from_streams("spend_usd"))
        yield _counter("distillery_stream_outcomes", "Every streams outcome counter, summed over workers.",
                       ["task", "outcome"],
                       (([t, o], v) for t, c in sorted(outcomes.items()) for o, v in sorted(c.items())))
        agreement = ((t, s.levels.get("agreement")) for t, s in sorted(tasks.items()))
        yield _gauge("distillery_agreement_ratio", "Teacher-student agreement (the detector's window mean).",
                     ["task"], (([t], v) for t, v in agreement if v is not None))
        yield _gauge("distillery_signal_level", "Each drift signal's current level.", ["task", "signal"],
                     (([t, n], v) for t, s in sorted(tasks.items()) for n, v in sorted(s.levels.items())
                      if v is not None))
        yield _counter("distillery_drift_alarms", "Drift alarms raised.", ["task", "signal", "severity"],
                       (([t, sig, sev], n) for t, s in sorted(tasks.items())
                        for (sig, sev), n in sorted(s.alarm_counts.items())))
        yield _gauge("distillery_monitors_consumer_lag", "Messages behind the partition's end, per input partition.",
                     ["topic", "partition"], (([t, str(p)], n) for (t, p), n in sorted(ops.lag.items())))


def registry_for(ops: Ops) -> CollectorRegistry:
    """A registry with only the monitors' metrics (tests and the endpoint use their own)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OpsCollector(ops))
    return registry
