"""Malformed and foreign messages, on every topic the monitors read and on drift.events, break
no consumer: the worker and ``distillery drift tail`` log them and go on. Also: the snapshot of
the adapter that serves gives the unseen-token signal its vocabulary; one that cannot be read is
logged and the old reference kept."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from monitors_support import TASK, inference_stream, produce, produce_raw, task_seen

from distillery.artifacts import ArtifactStore
from distillery.events import (
    AdapterPublished,
    DeadLetter,
    DriftEvent,
    GateMetrics,
    LabeledExample,
    ModelScores,
    ReviewItem,
    TrainJob,
)
from monitors.signals import vocabulary_of

KEY = TASK.encode()


def _adapter(job: TrainJob, adapter_id: str) -> AdapterPublished:
    return AdapterPublished(task=TASK, adapter_id=adapter_id, job_id=job.job_id, uri="/adapters/x", sha256="0" * 64,
                            base_model="b", student_prompt="", snapshot_uri=job.snapshot_uri,
                            metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))


def _snapshot_job(store: ArtifactStore, tmp: Path) -> tuple[TrainJob, frozenset[str]]:
    inputs = ["SHELL OIL 1234 AUSTIN", "KROGER MARKET #88", "STARBUCKS SEATTLE", "CVS PHARMACY STORE"]
    splits = ["train", "train", "train", "eval"]
    path = tmp / "snap.parquet"
    pq.write_table(pa.table({"event_id": ["a", "b", "c", "d"], "input": inputs, "label": ["fuel"] * 4,
                             "split": splits}), path)
    uri, digest = store.put_file(path, f"snapshots/{TASK}", suffix=".parquet")
    job = TrainJob(task=TASK, job_id=f"{TASK}-{digest[:16]}", snapshot_uri=uri, snapshot_sha256=digest)
    return job, vocabulary_of(i for i, sp in zip(inputs, splits, strict=True) if sp == "train")


def _wait_for_line(proc, needle: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = open(proc.log_path).read()
        if needle in text:
            return text
        assert proc.poll() is None, f"drift tail exited:\n{text[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} never printed; output:\n{text[-3000:]}")


def test_bad_messages_break_no_consumer(kafka_settings, start_monitors, spawn_worker, tmp_path: Path) -> None:
    s = kafka_settings()
    t = s.topics
    store = ArtifactStore(str(tmp_path / "artifacts"))
    job, vocab = _snapshot_job(store, tmp_path)
    missing = job.model_copy(update={"snapshot_uri": f"file://{tmp_path}/gone.parquet", "job_id": "gone"})
    foreign_task = LabeledExample(task="not-declared", event_id="f1", input="x", label="y", source="teacher")
    garbage: list[tuple[str, bytes | None, bytes | None]] = [
        (t.inference, KEY, b"\xff\xfe not utf-8"), (t.inference, KEY, None), (t.inference, None, b"[1, 2]"),
        (t.labeled, KEY, b"{truncated"), (t.labeled, KEY, None), (t.labeled, KEY, foreign_task.to_json()),
        (t.review, KEY, json.dumps({"task": TASK, "surprise": True}).encode()),
        (t.deadletter, KEY, b"\x00\x01"), (t.train_jobs, KEY, b"not a job"), (t.train_jobs, KEY, missing.to_json()),
        (t.published, KEY, b"not an adapter"), (t.published, KEY, _adapter(missing, "a-gone").to_json()),
        (t.control, KEY, json.dumps({"task": TASK, "action": "pin"}).encode()),
        (t.drift, KEY, b"\xff garbage"), (t.drift, KEY, json.dumps({"foreign": "record"}).encode()),
        (t.drift, b"x", None), (t.counters, b"w-bad", b"{nope"),
    ]
    produce_raw(s, garbage)

    worker = start_monitors(s)
    tail_all = spawn_worker(s, "drift", "tail", "--from-beginning")
    tail_other = spawn_worker(s, "drift", "tail", "--from-beginning", "--task", "some-other-task")

    # an adapter whose snapshot is gone: logged, the reference stays as it was
    deadline = time.monotonic() + 30
    while "cannot read the data of adapter a-gone" not in worker.log():
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.3)

    # valid records after the bad ones are all processed
    traffic = inference_stream(seed=3, n=300)
    produce(s, t.train_jobs, [job])
    produce(s, t.published, [_adapter(job, "a-good")])
    produce(s, t.inference, traffic)
    produce(s, t.review, [ReviewItem(task=TASK, event_id="r1", input="x", reason="low confidence")])
    produce(s, t.deadletter, [DeadLetter(task=TASK, reason="invalid", source_topic=t.inference, source_partition=0,
                                         source_offset=1, original_b64="")])
    produce_raw(s, [(t.counters, b"streams/a", json.dumps({"worker_id": "streams/a", "counts": {
        TASK: {"teacher_calls": 7, "spend_usd": 0.25}}}).encode())])
    st = worker.wait_for("the valid records", lambda st: task_seen(st, "input_length") == len(traffic)
                         and task_seen(st, "teacher_rejection") == 1 and task_seen(st, "dead_letter") == len(traffic) + 1
                         and st["tasks"][TASK]["vocabulary_size"] == len(vocab)
                         and st["outcomes"].get(TASK, {}).get("teacher_calls") == 7)
    assert st["invalid"] == {"not_utf8": 1, "empty": 1, "not_object": 1}
    assert st["malformed"] == {t.labeled: 3, t.review: 1, t.deadletter: 1, t.train_jobs: 1, t.counters: 1,
                               t.published: 1, t.control: 1}
    assert st["tasks"][TASK]["references"]["unseen_token_share"] == "adapter a-good"
    assert f"ignored an unreadable or foreign message at {t.labeled}[" in worker.log()
    metrics = worker.metrics()
    assert f'distillery_teacher_calls_total{{task="{TASK}"}} 7.0' in metrics
    assert f'distillery_teacher_spend_usd_total{{task="{TASK}"}} 0.25' in metrics
    assert 'distillery_events_invalid_total{reason="not_utf8"} 1.0' in metrics

    # drift tail labels the bad messages and prints the good one a person can read
    produce(s, t.drift, [DriftEvent(task=TASK, signal="category_mix", detector="PageHinkley", estimate_before=0.04,
                                    estimate_after=0.31, severity="critical", source_topic=t.inference,
                                    source_partition=2, source_offset=8199, events_seen=8200,
                                    detail={"moved": [{"category": "fuel", "share_before": 0.1,
                                                       "share_after": 0.4}]})])
    # (the worker may print its own category alarm too: the 4-answer snapshot is all "fuel")
    out = _wait_for_line(tail_all, "(PageHinkley)")
    assert out.count("that is not a drift event") == 3
    line = next(ln for ln in out.splitlines() if "(PageHinkley)" in ln)
    assert f"CRITICAL  {TASK}  category_mix  0.040 → 0.310  (PageHinkley)  at {t.inference}[2]@8199" in line
    assert "fuel: 10.0% → 40.0%" in out
    other = _wait_for_line(tail_other, "following")
    time.sleep(1.0)
    assert "category_mix" not in open(tail_other.log_path).read(), other
    for proc in (worker.proc, tail_all, tail_other):
        assert proc.poll() is None
