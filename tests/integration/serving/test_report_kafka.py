"""The report reads adapters, drift alarms and worker counters from the real broker."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from console.common import Context
from console.report_cmd import report as report_command
from distillery.events import (
    AdapterPublished,
    AdapterRejected,
    DriftEvent,
    GateMetrics,
    ModelScores,
    Record,
    TrainingSummary,
)
from distillery.kafka import make_producer, send_record
from distillery.settings import Settings
from serving.report.build import build_report
from serving.report.data import collect, read_records

TASK = "transactions"
MIN = 60_000


def _records() -> list[Record]:
    metrics = GateMetrics(gold_size=240,
                          candidate=ModelScores(n=240, accuracy=0.9, per_category={"fuel": 0.7, "groceries": 0.95},
                                                worst_category="fuel"),
                          teacher=ModelScores(n=240, accuracy=0.92))

    def training(seconds: float) -> TrainingSummary:
        return TrainingSummary(device="cuda", quantization="nf4", steps=5, train_examples=64, seconds=seconds)

    return [
        AdapterPublished(task=TASK, adapter_id="ad-1", job_id="job-1", uri="/a/1", sha256="a" * 64,
                         base_model="smollm2-135m-instruct", student_prompt="Categorise.", metrics=metrics,
                         training=training(7200), router_threshold=0.74, router_coverage=0.8, created_at_ms=1_000),
        AdapterRejected(task=TASK, job_id="job-2", reason="gate", failed_rules=["max_below_teacher"],
                        training=training(1800), created_at_ms=2_000),
        DriftEvent(task=TASK, signal="category_mix", detector="ADWIN", detected_at_ms=10 * MIN),
        DriftEvent(task=TASK, signal="agreement", detector="ADWIN", detected_at_ms=12 * MIN),
        DriftEvent(task=TASK, signal="agreement", detector="ADWIN", detected_at_ms=50 * MIN),
        DriftEvent(task="elsewhere", signal="agreement", detector="ADWIN", detected_at_ms=10 * MIN),
    ]


def _snapshot(worker: str, calls: int) -> bytes:
    return json.dumps({"worker_id": worker, "role": "streams", "started_ms": 0, "updated_ms": 0,
                       "counts": {TASK: {"teacher_calls": calls, "labeled": calls}}}).encode()


async def _produce(s: Settings) -> None:
    producer = make_producer(s)
    await producer.start()
    try:
        for record in _records():
            await send_record(producer, s, record)
        # two workers; w1 published twice, so only its latest snapshot counts; then a broken one
        for key, value in ((b"w1", _snapshot("w1", 3)), (b"w2", _snapshot("w2", 4)), (b"w1", _snapshot("w1", 5)),
                           (b"w3", b"{not json")):
            await producer.send_and_wait(s.topics.counters, value, key=key)
        await producer.send_and_wait(s.topics.published, b'{"task": "transactions"}', key=b"transactions")
    finally:
        await producer.stop()


@pytest.mark.kafka
def test_report_reads_adapters_drift_and_counters_from_the_broker(kafka_settings) -> None:
    s = kafka_settings()
    asyncio.run(_produce(s))

    got = asyncio.run(read_records(s))
    assert [p.adapter_id for p in got.published] == ["ad-1"]  # the malformed record is skipped
    assert [r.job_id for r in got.rejected] == ["job-2"]
    assert sorted(d.task for d in got.drift) == ["elsewhere", TASK, TASK, TASK]
    assert got.counters == {TASK: {"teacher_calls": 9, "labeled": 9}}

    (inputs,) = collect(s, [TASK])
    r = build_report(inputs)
    # (7200 + 1800) s = 2.5 GPU hours at $2.5
    assert (r.training.runs, r.training.hours, r.one_time_usd["training"]) == (2, 2.5, 6.25)
    # 10 and 12 minutes fall in one cooldown (10 min); 50 starts a second episode
    assert (r.drift.alarms, r.drift.episodes, dict(r.drift.by_signal)) == (3, 2, {"category_mix": 1, "agreement": 2})
    assert (r.share.router_threshold, r.share.adapter_id) == (0.74, "ad-1")
    assert (r.evidence.gold_size, r.evidence.candidate_accuracy, r.evidence.worst_category) == (240, 0.9, "fuel")
    assert r.counters == {"teacher_calls": 9, "labeled": 9}
    # candidate 2 points below the teacher (the shipped gate allows 1) and under the 95% target: route only
    assert r.decision.verdict == "route_only"
    assert [row.passed for row in r.decision.rows] == [True, None, True, False, False]

    ctx = Context(None)
    ctx._settings = s
    out = CliRunner().invoke(report_command, ["--format", "json"], obj=ctx)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)["tasks"][TASK]
    assert doc["verdict"] == "route_only" and doc["training"]["usd"] == 6.25
