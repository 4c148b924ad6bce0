"""The report's numbers on a fixture store and explicit adapter records, against a hand computation;
and the ``distillery report`` command on the same fixture."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from console.common import Context
from console.report_cmd import report as report_command
from distillery.events import (
    AdapterPublished,
    AdapterRejected,
    DriftEvent,
    GateMetrics,
    ModelScores,
    TrainingSummary,
)
from distillery.settings import Settings
from serving.report.build import build_report
from serving.report.data import TopicRecords, gather, read_store
from serving.report.render_terminal import render
from streams.store.db import StoreBatch, TaskStore, store_path

TASK = "transactions"
T0 = 1_700_000_000_000
DAY = 86_400_000
MIN = 60_000


def _event(eid: str, route: str | None, model: str | None, usage: tuple[int, int] | None, ts: int) -> tuple:
    p, c = usage if usage else (None, None)
    return (eid, f"SHELL OIL {eid} AUSTIN TX", "fuel", model, route, 0.9, "fuel", "labeled", ts, ts, 0, 0, p, c)


def _example(eid: str, label: str, student: str | None, window: int) -> tuple:
    return (eid, f"line {eid}", label, label, "teacher", "gpt-4.1", 0.9, student, "train", window, T0)


def write_fixture_store(settings: Settings) -> Path:
    path = store_path(settings, TASK)
    TaskStore(path).write(StoreBatch(
        events=[
            _event("e1", "teacher", "gpt-4.1", (200, 4), T0),
            _event("e2", "teacher", "gpt-4.1", (240, 6), T0 + DAY),
            _event("e3", "student", "smollm2", (40, 5), T0 + 2 * DAY),
            _event("e4", None, "other-model", (999, 99), T0 + 3 * DAY),  # not the teacher: ignored
            _event("e5", None, "gpt-4.1", None, T0 + 14 * DAY),  # no usage reported: ignored
        ],
        examples=[
            _example("x1", "groceries", " Groceries", 100),
            _example("x2", "fuel", "fuel", 100),
            _example("x3", "fuel", "groceries", 100),
            _example("x4", "coffee_shops", "coffee_shops", 101),
            _example("x5", '{"amount":3,"merchant":"X"}', '{"merchant": "x", "amount": 3}', 101),
            _example("x6", "fuel", None, 102),  # no student answer: not in the agreement
        ],
        gold=[(f"g{i}", f"gold {i}", "fuel", "fuel", "event", "fuel", 0.9, T0) for i in range(2)],
        spend=[(f"e{i}", usd, 220, 5, False, "gpt-4.1", T0) for i, usd in enumerate((0.01, 0.02, 0.03))],
    ))
    return path


def _metrics(gold: int, cand: float, teacher: float, per_category: dict[str, float]) -> GateMetrics:
    worst = min(per_category, key=lambda k: per_category[k])
    return GateMetrics(gold_size=gold,
                       candidate=ModelScores(n=gold, accuracy=cand, per_category=per_category, worst_category=worst),
                       teacher=ModelScores(n=gold, accuracy=teacher))


def _training(seconds: float) -> TrainingSummary:
    return TrainingSummary(device="cuda", quantization="nf4", steps=10, train_examples=100, seconds=seconds)


def _published(adapter: str, at: int, seconds: float, threshold: float, metrics: GateMetrics,
               coverage: float | None = None) -> AdapterPublished:
    return AdapterPublished(task=TASK, adapter_id=adapter, job_id=f"job-{adapter}", uri=f"/adapters/{adapter}",
                            sha256="0" * 64, base_model="smollm2-135m-instruct", student_prompt="Categorise.",
                            metrics=metrics, training=_training(seconds), router_threshold=threshold,
                            router_coverage=coverage, created_at_ms=at)


def fixture_records() -> TopicRecords:
    a1 = _published("a1", 1000, 1800, 0.7, _metrics(250, 0.93, 0.95, {"fuel": 0.6, "groceries": 0.99}), 0.7)
    a2 = _published("a2", 2000, 3600, 0.82, _metrics(300, 0.96, 0.95, {"fuel": 0.9, "groceries": 0.99}), 0.8)
    return TopicRecords(
        published=(a1, a2, a2),  # a2 delivered twice: one training run
        rejected=(AdapterRejected(task=TASK, job_id="r1", reason="gate", training=_training(900)),
                  AdapterRejected(task=TASK, job_id="r2", reason="too little data")),
        drift=(DriftEvent(task=TASK, signal="category_mix", detector="ADWIN", detected_at_ms=T0),
               DriftEvent(task=TASK, signal="agreement", detector="ADWIN", detected_at_ms=T0 + 5 * MIN),
               DriftEvent(task=TASK, signal="input_length", detector="ADWIN", detected_at_ms=T0 + 60 * MIN),
               DriftEvent(task="other", signal="agreement", detector="ADWIN", detected_at_ms=T0)),
        counters={TASK: {"teacher_calls": 3, "spend_usd": 0.06}, "other": {"teacher_calls": 7}},
    )


def _with_cooldown(s: Settings, minutes: float) -> Settings:
    spec = s.task(TASK)
    retrain = spec.retrain.model_copy(update={"cooldown_minutes": minutes})
    return s.with_overrides(tasks={TASK: spec.model_copy(update={"retrain": retrain})})


def test_numbers_match_a_hand_computation(settings_factory) -> None:
    s = _with_cooldown(settings_factory(), 10.0)  # the drift episodes below assume a 10-minute cooldown
    write_fixture_store(s)
    r = build_report(gather(s, TASK, fixture_records()))
    assert r.economics is not None
    e = s.task(TASK).economics  # 10M/mo; prompts 220/30; GPU $2.5/h; eval 2000; curation 1500; ops 800+600

    # teacher path: mean of e1, e2 (production teacher answers); student path: e3
    assert (r.teacher.prompt_tokens, r.teacher.completion_tokens) == (220.0, 5.0)
    assert r.teacher.source == "measured: 2 teacher-answered events"
    teacher_req = (220 * 2.0 + 5 * 8.0) / 1e6
    student_req = (40 * 0.05 + 5 * 0.2) / 1e6
    assert r.teacher.request_usd == pytest.approx(teacher_req)
    assert r.student.request_usd == pytest.approx(student_req)

    # 3 routed events are too few to measure: the latest adapter's coverage calibrated on gold (no routed
    # figures in these older events, so its router_coverage), and its threshold
    assert (r.share.value, r.share.source, r.share.routed_events) == (0.8, "calibrated", 3)
    assert r.share.basis == "calibrated on 300 gold rows, adapter a2, not yet measured"
    assert (r.share.router_threshold, r.share.adapter_id) == (0.82, "a2")

    # one-time: labels 0.06; training (1800 + 3600 + 900) s = 1.75 h * $2.5
    assert r.labeling_calls == 3
    assert r.one_time_usd["labeling"] == pytest.approx(0.06)
    assert (r.training.runs, r.training.hours) == (3, pytest.approx(1.75))
    assert r.one_time_usd["training"] == pytest.approx(4.375)
    one_time = 0.06 + 4.375 + e.eval_build_usd + e.data_curation_usd
    assert r.economics.one_time_usd == pytest.approx(one_time)

    volume = 10_000_000
    gross = volume * (teacher_req - student_req)
    escalation = volume * 0.2 * teacher_req
    net = gross - (800 + 600) - escalation
    assert r.economics.gross_monthly_usd == pytest.approx(gross)  # 4,770
    assert r.economics.escalation_monthly_usd == pytest.approx(escalation)  # 960
    assert r.economics.net_monthly_usd == pytest.approx(net)  # 2,410
    assert r.economics.months == pytest.approx(one_time / net)  # 1.454
    assert r.volume_needed == pytest.approx((one_time / 12 + 1400) / (0.8 * teacher_req - student_req))
    assert len(r.curve) == 13 and r.curve[12].savings_usd == pytest.approx(12 * gross)

    # drift: alarms 5 min apart are one episode (cooldown 10 min); the other task's alarm is not counted
    assert (r.drift.alarms, r.drift.episodes, r.drift.events_seen) == (3, 2, 5)
    assert r.drift.span_days == pytest.approx(14.0) and r.drift.per_week == pytest.approx(1.0)
    assert r.drift.per_100k_events == pytest.approx(40_000.0)

    # evidence: the latest published adapter, worst category from its per-category scores
    ev = r.evidence
    assert (ev.source, ev.adapter_id, ev.gold_size, ev.store_gold) == ("published", "a2", 300, 2)
    assert (ev.candidate_accuracy, ev.teacher_accuracy, ev.worst_category, ev.worst_accuracy) == (
        0.96, 0.95, "fuel", 0.9)

    # agreement per window, answers compared ignoring case, spaces and JSON key order
    assert [(w.window_id, w.n, w.agreed) for w in r.agreement] == [(100, 3, 2), (101, 2, 2)]
    assert r.counters == {"teacher_calls": 3, "spend_usd": 0.06}

    # 2 episodes in 5 events is far over 0.2 * 100k / (400 / 0.8) = 40 per 100k: a treadmill
    assert r.decision.verdict == "treadmill"
    assert [row.passed for row in r.decision.rows] == [True, False, True, True, True]


def test_measured_routing_share_and_given_share_win(settings_factory) -> None:
    s = settings_factory()
    write_fixture_store(s)
    inputs = gather(s, TASK, fixture_records())
    routed = dataclasses.replace(inputs.store, routed_student=90, routed_teacher=30)
    measured = build_report(dataclasses.replace(inputs, store=routed))
    assert (measured.share.value, measured.share.source) == (0.75, "measured")
    assert measured.share.basis == "measured on 120 routed requests"
    given = build_report(inputs, given_share=0.5)
    assert given.economics is not None
    assert (given.share.value, given.share.source, given.share.basis) == (0.5, "given", "assumed (--student-share)")
    assert given.economics.escalation_monthly_usd == pytest.approx(10_000_000 * 0.5 * given.teacher.request_usd)


def test_without_a_store_or_kafka_the_spec_prices_the_paths(settings_factory) -> None:
    s = settings_factory()
    r = build_report(gather(s, TASK, None))
    # classification answers: longest label "software_subscriptions" (22 chars) -> 6 tokens + 2
    assert (r.teacher.prompt_tokens, r.teacher.completion_tokens) == (220.0, 8.0)
    assert (r.student.prompt_tokens, r.student.completion_tokens) == (30.0, 8.0)
    assert r.teacher.source == "spec: teacher_prompt_tokens"
    assert r.drift.events_seen == 0 and r.training.runs == 0 and r.evidence.source == "none"
    assert r.decision.verdict == "no_eval"
    assert any("Kafka was not read" in n for n in r.notes)


def test_labeling_calls_price_the_teacher_when_no_served_usage(settings_factory) -> None:
    s = settings_factory()
    TaskStore(store_path(s, TASK)).write(StoreBatch(
        spend=[("e1", 0.001, 300, 6, False, "gpt-4.1", T0), ("e2", 0.001, 100, 2, False, "gpt-4.1", T0)]))
    r = build_report(gather(s, TASK, TopicRecords()))
    assert (r.teacher.prompt_tokens, r.teacher.completion_tokens) == (200.0, 4.0)
    assert r.teacher.source == "measured: 2 labeling calls"
    assert r.student.completion_tokens == 4.0  # the student's answer is as long as the teacher's


def test_terminal_table_shows_verdict_and_numbers(settings_factory) -> None:
    s = settings_factory()
    write_fixture_store(s)
    console = Console(record=True, width=160)
    render(build_report(gather(s, TASK, fixture_records())), console)
    text = console.export_text()
    assert "transactions: Don't: the task keeps moving" in text
    assert "$4.38" in text and "1.75 GPU h" in text and "(breaks even: 1.5 months)" in text
    assert "FAIL" in text
    assert "student share 80.0% calibrated on 300 gold rows, adapter a2, not yet measured" in text


def _ctx(settings: Settings) -> Context:
    ctx = Context(None)
    ctx._settings = settings
    return ctx


def test_report_command_writes_json_and_html(settings_factory, tmp_path: Path) -> None:
    s = settings_factory()
    write_fixture_store(s)
    runner = CliRunner()
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    out = runner.invoke(report_command, ["--no-kafka", "--format", "json", "--html", str(html), "--json", str(js),
                                         "--student-share", "0.9"], obj=_ctx(s))
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc == json.loads(js.read_text())
    t = doc["tasks"][TASK]
    assert t["share"] == {"value": 0.9, "source": "given", "basis": "assumed (--student-share)", "routed_events": 3,
                          "router_threshold": None, "adapter_id": None}
    assert t["verdict"] == "no_eval" and t["breaks_even"] is True
    assert t["one_time_usd"] == {"labeling": pytest.approx(0.06), "training": 0.0, "eval_build": 2000.0,
                                 "data_curation": 1500.0, "human_review": 0.0}
    assert t["agreement"][0] == {"window_id": 100, "n": 3, "agreed": 2, "start_ms": 100 * 900_000,
                                 "rate": pytest.approx(2 / 3)}
    assert html.read_text().count("<svg") == 2

    table = runner.invoke(report_command, ["--no-kafka", "--task", TASK], obj=_ctx(s))
    assert table.exit_code == 0 and "Don't: no proof yet" in table.stdout

    bad = runner.invoke(report_command, ["--no-kafka", "--task", "nope"], obj=_ctx(s))
    assert bad.exit_code != 0 and "unknown task 'nope'" in str(bad.exception)


def test_store_locked_by_a_writer_is_read_once_the_lock_goes(settings_factory) -> None:
    s = settings_factory()
    path = write_fixture_store(s)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "print('locked', flush=True)\n"
        "time.sleep(1.5)\n"
        "con.close()\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        facts = read_store(path, "gpt-4.1")
        waited = time.monotonic() - started
    finally:
        holder.wait(10)
    assert facts.events_seen == 5 and facts.labeling_calls == 3
    assert waited > 0.5  # it waited for the writer instead of failing
