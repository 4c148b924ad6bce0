"""Batch API mode never stops the worker and never drops a waiting event (issue #13).

Before: a failed or expired job with no output file raised out of ``poll_batches``
(``collect``'s TeacherError), and so did any submit or retrieve error during an
outage, crashing the worker at every poll. Now an outage is logged, counted and
retried at the next poll; a job that cannot give labels has its events labeled
online (a refusal becomes a review item, as online); a pending event the contract
no longer accepts is dead-lettered with the reason.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from hostile_support import FakeLabeler, FakeTeacher, settings_for

from distillery.counters import Counters
from distillery.errors import TeacherError, TeacherUnavailableError
from distillery.events import DeadLetter, InferenceEvent
from streams.pipeline import Pipeline
from streams.source import Source
from streams.store.db import store_path
from streams.teacher.batch_poll import poll_batches


def _pipeline(tmp_path: Path, script: dict[str, list[object]],
              teacher: FakeTeacher | None = None) -> tuple[Pipeline, FakeLabeler, FakeTeacher]:
    settings = settings_for(tmp_path, batch=True)
    teacher = teacher or FakeTeacher(list(settings.task("transactions").labels))
    labeler = FakeLabeler(teacher, script)
    pipeline = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher,  # type: ignore[arg-type,return-value]
                        labeler_factory=lambda client: labeler)  # type: ignore[arg-type,return-value]
    return pipeline, labeler, teacher


def _merchant(i: int) -> str:
    """Inputs no two of which look alike to the deduper (letters from a hash, not a counter)."""
    word = "".join(chr(65 + b % 26) for b in hashlib.sha256(str(i).encode()).digest()[:12])
    return f"MERCHANT {i} {word}"


async def _ingest(pipeline: Pipeline, n: int) -> list[str]:
    events = [InferenceEvent(event_id=f"ev-{i}", task="transactions", input=_merchant(i),
                             ts=1_780_000_000_000 + i) for i in range(n)]
    raws = [(e.to_json(), b"transactions", Source("inference.events", 0, i)) for i, e in enumerate(events)]
    await pipeline.process(raws)
    return [e.event_id for e in events]


def _table(pipeline: Pipeline, sql: str) -> list[tuple[object, ...]]:
    pipeline.store("transactions").close()
    con = duckdb.connect(str(store_path(pipeline.settings, "transactions")), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


async def test_a_failed_job_with_no_output_is_labeled_online_not_raised(tmp_path: Path) -> None:
    failed = TeacherError("batch b-1 ended 'failed' with no output: input file invalid")
    pipeline, labeler, teacher = _pipeline(tmp_path, {"submit": ["b-1"], "retrieve": ["failed"], "collect": [failed]})
    try:
        ids = await _ingest(pipeline, 6)
        assert _table(pipeline, "SELECT count(*) FROM pending") == [(6,)]
        out = await poll_batches(pipeline)  # submits, then finds the job failed
    finally:
        await pipeline.close()
    assert {k: sorted(v) for k, v in labeler.submitted.items()} == {"b-1": sorted(ids)}  # no order in SQL
    assert teacher.calls == 6  # every event labeled online instead
    assert _table(pipeline, "SELECT count(*) FROM pending") == [(0,)]
    outcomes = dict(_table(pipeline, "SELECT event_id, outcome FROM events"))
    assert set(outcomes) == set(ids) and "pending_batch" not in outcomes.values()
    assert {r.event_id for r in out.labeled} | {r.event_id for r in out.review} == set(ids)
    assert all(r.source == "teacher" for r in out.labeled)  # full price: the job gave nothing
    assert pipeline.counters.get("transactions", "batch_failed") == 1
    assert pipeline.counters.get("transactions", "batch_online") == 6


@pytest.mark.parametrize("op", ["submit", "retrieve", "collect"])
async def test_an_outage_is_counted_and_retried_at_the_next_poll(tmp_path: Path, op: str) -> None:
    down = TeacherUnavailableError("batch create to fake: gave up after 3 attempts; last error: ConnectError")
    pipeline, labeler, teacher = _pipeline(tmp_path, {op: [down]})
    try:
        ids = await _ingest(pipeline, 4)
        first = await poll_batches(pipeline)
        still = _table(pipeline, "SELECT count(*) FROM pending")
        second = await poll_batches(pipeline)
        third = await poll_batches(pipeline)  # a submit retried at the second poll is collected here
    finally:
        await pipeline.close()
    assert pipeline.counters.get("transactions", "batch_errors") == 1
    assert first.labeled == [] and still == [(4,)]  # nothing lost while the endpoint was down
    labeled = {r.event_id for r in second.labeled + second.review + third.labeled + third.review}
    assert labeled == set(ids)
    assert all(r.source == "teacher_batch" for r in second.labeled + third.labeled)  # the job, at half price
    assert _table(pipeline, "SELECT count(*) FROM pending") == [(0,)]


async def test_refused_submit_and_unknown_job_go_online(tmp_path: Path) -> None:
    refused = TeacherError("batch upload to fake refused with HTTP 404: not found")
    pipeline, labeler, teacher = _pipeline(tmp_path, {"submit": [refused]})
    try:
        ids = await _ingest(pipeline, 3)
        out = await poll_batches(pipeline)
    finally:
        await pipeline.close()
    assert {r.event_id for r in out.labeled + out.review} == set(ids) and labeler.submitted == {}
    assert _table(pipeline, "SELECT count(*) FROM pending") == [(0,)]

    pipeline, labeler, teacher = _pipeline(tmp_path / "b", {"retrieve": [TeacherError("HTTP 404: no such batch")]})
    try:
        ids = await _ingest(pipeline, 3)
        out = await poll_batches(pipeline)
    finally:
        await pipeline.close()
    assert {r.event_id for r in out.labeled + out.review} == set(ids)
    assert _table(pipeline, "SELECT count(*) FROM pending") == [(0,)]


async def test_events_a_finished_job_did_not_answer_are_labeled_online(tmp_path: Path) -> None:
    teacher = FakeTeacher(["groceries", "fuel"], refuse=lambda text: text.startswith("MERCHANT 4 "))
    pipeline, labeler, _ = _pipeline(tmp_path, {"collect": ["2"]}, teacher)
    try:
        ids = await _ingest(pipeline, 5)
        out = await poll_batches(pipeline)
    finally:
        await pipeline.close()
    by_id = {r.event_id: r.source for r in out.labeled}
    answered = {k for k, v in by_id.items() if v == "teacher_batch"}
    assert answered <= set(ids) and len(answered) <= 2  # the job answered two lines (which two: submission order)
    review = {r.event_id: r.reason for r in out.review}
    if "ev-4" not in answered:  # refused online: a review item, as online
        assert "teacher_error" in review["ev-4"]
    assert set(by_id) | set(review) == set(ids)
    assert _table(pipeline, "SELECT count(*) FROM pending") == [(0,)]


async def test_a_pending_event_the_contract_now_refuses_is_dead_lettered(tmp_path: Path) -> None:
    pipeline, labeler, teacher = _pipeline(tmp_path, {})
    try:
        ids = await _ingest(pipeline, 2)
        with pipeline.store("transactions").connect() as con:  # stored by an older worker: ts it cannot represent
            con.execute("UPDATE pending SET event_json = ? WHERE event_id = ?",
                        [json.dumps({"event_id": ids[0], "task": "transactions", "input": "x", "ts": "0001-01-01"}),
                         ids[0]])
        out = await poll_batches(pipeline)
    finally:
        await pipeline.close()
    assert [d.event_id for d in out.deadletters] == [ids[0]]
    letter = DeadLetter.model_validate_json(out.deadletters[0].to_json())
    assert letter.stage == "batch" and letter.problems[0].startswith("ts: expected a time between 1970")
    assert (letter.source_partition, letter.source_offset) == (0, 0)
    outcomes = dict(_table(pipeline, "SELECT event_id, outcome FROM events"))
    assert outcomes[ids[0]] == "deadlettered" and outcomes[ids[1]] in ("labeled", "review", "rejected")


async def test_the_worker_timer_survives_anything_poll_batches_raises(tmp_path: Path, monkeypatch) -> None:
    from hostile_support import FakeProducer

    from streams.app import BatchHandler

    pipeline, _, _ = _pipeline(tmp_path, {})

    async def broken(pipe: Pipeline) -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr("streams.app.poll_batches", broken)
    handler = BatchHandler(pipeline, pipeline.settings.topics, FakeProducer(1 << 20).send)
    try:
        await handler.poll_batches()  # logged and counted; the next poll tries again
    finally:
        await pipeline.close()
    assert pipeline.counters.get("_worker", "batch_errors") == 1
