"""Run the whole loop locally: Kafka, a teacher, the workers, drifting traffic, a report.

Each run gets its own topic prefix and data folder (``var/demo/<run>``), so runs
never see each other's data. Production traffic is answered by the teacher (as
before any distillation), so the first adapter is distilled from logged traffic;
halfway through, the traffic drifts (new merchants; EV charging, once rare,
becomes common) and the monitors should say so after the change, not before.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live

from console.demo.probe import BlindSpotProbe, http_route
from console.demo.processes import Workers
from console.demo.review import ReviewLoop
from console.demo.routed import RoutedTraffic, openai_sender
from console.demo.wait import SETTLE_S, JobWait
from console.demo.watch import DemoState, Follower, render
from console.sender import produce
from devkit.sim.teacher_model import Teacher
from devkit.sim.traffic import synthetic_rows
from distillery.kafka import ensure_topics
from distillery.replay import Row
from distillery.settings import Settings

PROBE_GRACE_S = 180.0
"""After the last verdict: how long the demo waits for the replica to swap in and probe the newest adapter."""


@dataclass(frozen=True)
class DemoPlan:
    """How big a run is."""

    events: int
    rate: float
    drift_at: int | None
    train_wait_s: float | None
    """How long to wait for train jobs after the traffic; ``None``: while they move (:mod:`console.demo.wait`)."""
    malformed_share: float = 0.002
    gold_share: float = 0.002
    gold_size: int = 250
    """A gold set built up front, as a team would before trusting any student: this many
    hand-checked examples drawn from (pre-drift) traffic; more arrive with the stream."""
    wait_for_all_jobs: bool = True
    seed: int = 7
    serve_seconds: float = 120.0
    """After the first promotion: this long of production traffic offered to the router."""
    serve_rate: float = 100.0
    """Requests per second offered in that phase; the router takes what it can serve, the teacher the rest."""
    route_concurrency: int = 4
    """Requests in flight to the router at most (what the CPU serves beside the trainer)."""
    stall_s: float = 300.0
    """With no fixed wait: stop waiting when no train job has moved (a step, a phase) for this long."""
    wait_cap_s: float = 2400.0
    """With no fixed wait: the last guard on the wait after the traffic."""
    probe_size: int = 24
    """Fresh inputs of the simulated teacher's blind-spot category sent to each adapter that serves."""

    @classmethod
    def full(cls) -> DemoPlan:
        return cls(events=60_000, rate=300.0, drift_at=30_000, train_wait_s=None)

    @classmethod
    def quick(cls) -> DemoPlan:
        # the change may come at any event (the monitors need no calibration, only a warm-up of a few hundred
        # answers before the first adapter); it comes after the first adapter here so both references show
        # the first job judges the base model by label likelihood once (~0.5 s an input): about 2 minutes
        return cls(events=14_000, rate=500.0, drift_at=8_000, train_wait_s=480.0, gold_size=200,
                   wait_for_all_jobs=False, serve_seconds=60.0)


def gold_rows(n: int, *, seed: int) -> list[Row]:
    """``n`` labeled demo transactions, a plain sample of traffic (rare categories stay rare)."""
    from devkit.sim.transactions import TransactionGenerator

    return [Row(text, category) for text, category in TransactionGenerator(seed=seed + 10_000).stream(n)]


@contextlib.contextmanager
def _teacher(settings: Settings, console: Console, teacher: Teacher | None = None) -> Iterator[dict[str, str]]:
    """A real teacher when OPENAI_API_KEY is set, else the simulated one over HTTP."""
    if settings.openai_api_key is not None:
        console.print("teacher: the real endpoint from OPENAI_API_KEY / OPENAI_BASE_URL")
        yield {}
        return
    from devkit.sim.teacher_server import SimTeacherServer

    server = SimTeacherServer(teacher, latency_s=0.05, batch_delay_s=2.0)
    with server.run_in_thread() as running:
        what = ("answers from the replayed rows' labels, about 95% right" if teacher is not None
                else "about 95% right, one blind spot")
        console.print(f"teacher: simulated frontier model at {running.base_url} ({what}; "
                      "set OPENAI_API_KEY for a real one)")
        yield {"OPENAI_BASE_URL": running.base_url}


def _blind_spot_probe(settings: Settings, plan: DemoPlan, task: str, port: int, key: str) -> BlindSpotProbe | None:
    """The probe of the simulated teacher's blind spot (:mod:`console.demo.probe`); none with a real teacher."""
    from devkit.sim.teacher_model import SimTeacher
    from devkit.sim.transactions import TransactionGenerator

    spot = SimTeacher().blind_spot
    if settings.openai_api_key is not None or spot is None:
        return None
    truth, wrong = spot
    gen = TransactionGenerator(seed=plan.seed + 7)
    texts = [gen.sample_of(truth).text for _ in range(plan.probe_size)]
    return BlindSpotProbe(http_route(f"http://127.0.0.1:{port}", task, key), truth, wrong, texts)


def free_port() -> int:
    """A TCP port nothing listens on now, on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_demo(settings: Settings, plan: DemoPlan, console: Console, *, rows: Iterator[Row] | None = None,
             total: int | None = None, task: str = "transactions", teacher: Teacher | None = None) -> DemoState:
    """Run the loop end to end and return what was seen (the caller prints the report).

    Production traffic goes to the teacher until the first adapter is promoted;
    from then on a share of it goes through the serving replica's
    OpenAI-compatible router (:mod:`console.demo.routed`), as a service that
    changed its ``base_url`` would. When the planned traffic ended before the
    first promotion, a serving phase (``plan.serve_seconds``) sends more.
    """
    state = DemoState(sent_total=total or plan.events, drift_at=plan.drift_at)
    asyncio.run(ensure_topics(settings))
    follower = Follower(settings, state)
    port = free_port()
    from streams.teacher.prompts import teacher_system_prompt

    # the router and the ops page want a key, as in production: the configured one, or one for this run
    key = settings.api_keys[0].get_secret_value() if settings.api_keys else secrets.token_urlsafe(32)
    routed = RoutedTraffic(openai_sender(f"http://127.0.0.1:{port}/v1", f"distillery:{task}",
                                         system=teacher_system_prompt(settings.task(task)), api_key=key),
                           concurrency=plan.route_concurrency)
    state.routed = routed.stats
    probe = _blind_spot_probe(settings, plan, task, port, key) if rows is None and teacher is None else None

    def probe_latest() -> None:
        if probe is not None and state.published:
            probe.offer(state.published[-1].adapter_id)

    with _teacher(settings, console, teacher) as teacher_env:
        env = teacher_env if settings.api_keys else {**teacher_env, "DISTILLERY_API_KEYS": key}
        workers = Workers(settings, settings.data_dir / "logs", env=env)
        for name, args in (("streams", ["streams"]), ("monitors", ["monitors", "--http-port", "0", "--web-port", "0"]),
                           ("trainer", ["trainer"]),
                           ("adapters", ["adapters", "watch", "--host", "127.0.0.1", "--port", str(port)])):
            workers.start(name, *args)
        follower.start()
        reviewer = ReviewLoop(settings, task)
        reviewer.start()
        try:
            with Live(render(state), console=console, refresh_per_second=2, transient=False) as live:
                if rows is None and plan.gold_size:
                    state.phase = "importing the gold set"
                    gold = gold_rows(plan.gold_size, seed=plan.seed)
                    asyncio.run(produce(settings, task, iter(gold), total=len(gold), rate=0.0,
                                        run_id=f"gold{plan.seed}", production_model=None, gold_share=1.0,
                                        malformed_share=0.0, seed=plan.seed, manifest=None, quiet=True))
                state.phase = "traffic (production on the teacher)"
                source = rows if rows is not None else synthetic_rows(
                    plan.events, seed=plan.seed, drift_at=plan.drift_at, teacher_accuracy=0.95)

                def counted(it: Iterator[Row]) -> Iterator[Row]:
                    for i, row in enumerate(it):
                        if plan.drift_at is not None and i == plan.drift_at:
                            state.drift_sent_ms = int(time.time() * 1000)
                            state.phase = "traffic, drifted"
                        state.sent = i + 1
                        live.update(render(state))
                        probe_latest()
                        if not (state.published and routed.offer(row)):
                            yield row  # to the teacher, as production traffic

                asyncio.run(produce(settings, task, counted(source), total=state.sent_total, rate=plan.rate,
                                    run_id=f"demo{plan.seed}", production_model=settings.task(task).teacher.model,
                                    gold_share=plan.gold_share, malformed_share=plan.malformed_share,
                                    seed=plan.seed, manifest=settings.data_dir / "manifest.jsonl", quiet=True))
                state.phase = "training and judging the last adapters"
                wait = JobWait(started=time.monotonic(), fixed_s=plan.train_wait_s, stall_s=plan.stall_s,
                               cap_s=plan.wait_cap_s, until_verdicts=plan.wait_for_all_jobs)
                served_by_phase: list[str] = []  # adapters a serving phase was run for
                serves = rows is None and plan.serve_seconds > 0
                probe_until: dict[str, float] = {}  # adapter -> the end of the wait for its probe
                while True:
                    live.update(render(state))
                    probe_latest()
                    latest = state.published[-1].adapter_id if state.published else None
                    if serves and latest and latest not in served_by_phase and _swapped_in(probe, latest) and (
                            plan.wait_for_all_jobs or not served_by_phase):
                        # each newly promoted adapter serves traffic like the latest, so the end of the demo
                        # says what each served and at what quality (the planned traffic is usually over by then)
                        first = not served_by_phase
                        served_by_phase.append(latest)
                        if not first or routed.stats.total < plan.serve_rate * plan.serve_seconds / 4:
                            state.phase = f"serving: production traffic through the router ({latest[-20:]})"
                            _serve(settings, plan, task, state, routed, live, phase=len(served_by_phase))
                            state.phase = "training and judging the last adapters"
                            wait.extend(time.monotonic(), 30)
                    served = not serves or bool(served_by_phase)
                    done = {p.job_id for p in state.published} | {r.job_id for r in state.rejected}
                    jobs = [j.job_id for j in state.jobs]
                    progress = {k: (v.get("phase"), v.get("step")) for k, v in state.training.items()}
                    over = wait.check(time.monotonic(), jobs=jobs, done=done, progress=progress)
                    if over is not None and probe is not None and latest and not probe.finished(latest):
                        # the newest adapter's probe is the demo's answer to "did it learn the blind spot?"
                        probe_until.setdefault(latest, time.monotonic() + PROBE_GRACE_S)
                        if time.monotonic() < probe_until[latest]:
                            over = None
                    if over is not None:
                        if any(j not in done for j in jobs):
                            state.notes.append(f"stopped waiting for train jobs: {over}")
                        break
                    settled = time.monotonic() - wait.started >= SETTLE_S
                    if not plan.wait_for_all_jobs and state.published and state.drifts and settled and served:
                        break  # the short run: one adapter promoted, serving, and the drift seen are the story
                    dead = workers.dead()
                    note = f"worker(s) exited: {', '.join(dead)}; see {workers.log_dir}"
                    if dead and note not in state.notes:
                        state.notes.append(note)
                    time.sleep(1)
                state.phase = "done"
                live.update(render(state))
        finally:
            reviewer.stop()
            state.review = reviewer.lines() + ([probe.line()] if probe is not None else [])
            routed.close()
            follower.stop()
            workers.stop()
    return state


def _swapped_in(probe: BlindSpotProbe | None, adapter_id: str) -> bool:
    """Whether the replica serves ``adapter_id`` yet, as far as the demo knows (its probe got answers from it)."""
    return probe is None or probe.finished(adapter_id)


def _serve(settings: Settings, plan: DemoPlan, task: str, state: DemoState, routed: RoutedTraffic,
           live: Live, *, phase: int = 1) -> None:
    """``plan.serve_seconds`` of traffic like the latest (drifted if the drift came): router first, teacher the rest.

    Each phase draws fresh rows (its own seed): the rows of an earlier phase were
    labelled by the teacher and trained on since.
    """
    n = int(plan.serve_rate * plan.serve_seconds)
    source = synthetic_rows(n, seed=plan.seed + phase, drift_at=0 if plan.drift_at is not None else None,
                            teacher_accuracy=0.95)

    def offered(it: Iterator[Row]) -> Iterator[Row]:
        for row in it:
            live.update(render(state))
            if not routed.offer(row):
                yield row

    asyncio.run(produce(settings, task, offered(source), total=n, rate=plan.serve_rate,
                        run_id=f"serve{plan.seed}-{phase}", production_model=settings.task(task).teacher.model,
                        gold_share=plan.gold_share, malformed_share=0.0, seed=plan.seed + phase,
                        manifest=settings.data_dir / f"manifest-serving-{phase}.jsonl", quiet=True))


def summary_lines(state: DemoState) -> list[str]:
    """The change point against the first alarm after it, in words."""
    lines = []
    if state.drift_at is not None:
        lines.append(f"injected change: event #{state.drift_at:,}")
        after = [d for d in state.drifts if state.drift_sent_ms is None or d.detected_at_ms >= state.drift_sent_ms]
        before = [d for d in state.drifts if d not in after]
        if after:
            first = min(after, key=lambda d: d.detected_at_ms)
            lag = (first.detected_at_ms - (state.drift_sent_ms or first.detected_at_ms)) / 1000
            lines.append(f"first alarm after it: {first.signal} ({first.detector}) {lag:.1f}s later, "
                         f"{len(after)} alarm(s) in all")
        else:
            lines.append("no drift alarm after the change")
        lines.append(f"alarms before the change (false alarms): {len(before)}")
    lines.append(f"adapters: {len(state.published)} promoted, {len(state.rejected)} rejected, "
                 f"{len(state.jobs)} train job(s)")
    lines.extend(served_lines(state))
    lines.extend(state.review)
    lines.extend(f"note: {note}" for note in dict.fromkeys(state.notes))
    return lines


def served_lines(state: DemoState) -> list[str]:
    """What the student served through the router, and at what quality, measured by the demo."""
    r = state.routed
    if r is None or not r.total:
        why = "no adapter was promoted" if not state.published else "no request reached the router"
        return [f"served by the student: nothing ({why}); every request went to the teacher"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.1%}"

    def ms(route: str) -> str:
        p50, p99 = r.latency_ms(route, 0.5), r.latency_ms(route, 0.99)
        return "n/a" if p50 is None or p99 is None else f"p50 {p50:.0f} ms, p99 {p99:.0f} ms"

    lines = [
        f"served through the router: {r.total:,} requests; the student answered {r.answered['student']:,} "
        f"({pct(r.share('student'))}), the teacher {r.answered['teacher']:,} (escalations)",
        f"student accuracy on what it answered: {pct(r.accuracy('student'))} against ground truth "
        f"(the teacher on the same items: {pct(r.teacher_accuracy('student'))}); routed system "
        f"{pct(r.routed_accuracy())}",
        f"latency: student {ms('student')}; teacher {ms('teacher')}"
        + (f"; {r.errors} failed request(s)" if r.errors else ""),
    ]
    adapters = r.per_adapter()
    if len(adapters) > 1:
        lines.append("by serving adapter (the student's share at its accuracy; routed system; the teacher on the "
                     "same requests): " + "; ".join(
                         f"{a[-20:]} {share:.0%} of {n} at {pct(acc)}, routed {pct(routed_acc)}, teacher {pct(t)}"
                         for a, n, share, acc, routed_acc, t in adapters))
    misses = r.worst_misses()
    if misses:
        lines.append("the student's commonest mistakes on that traffic (truth -> its answer): "
                     + ", ".join(f"{truth} -> {answer} {n}" for truth, answer, n in misses))
    spot = r.teacher_blind_spot()
    if spot is not None:
        truth, accuracy, n = spot
        per = ", ".join(f"{adapter} {acc:.0%} of {k}" for adapter, k, acc in r.routed_on(truth))
        lines.append(f"the teacher's worst category here: {truth}, {accuracy:.0%} right of {n}; the routed system "
                     f"on it, by serving adapter: {per}")
    return lines


def demo_settings(settings: Settings, run_id: str) -> Settings:
    """The run's own topic prefix and data folder."""
    root = Path(settings.data_dir) / "demo" / run_id
    # the converted student is shared by every run: converting it again would cost each demo a minute
    return settings.with_overrides(topic_prefix=f"{settings.topic_prefix}demo-{run_id}.", data_dir=root,
                                   model_cache=settings.model_dir)
