"""Reconciling Batch API jobs with the store: send waiting events, take in finished jobs.

The online path (:mod:`streams.pipeline`) stores a non-urgent event as
``pending_batch`` in the ``pending`` table (:mod:`streams.store.pending`); each
poll sends the waiting events as one job through the Batch API client
(:mod:`streams.teacher.batch`) and files the answers of every job that
finished, through the same bookkeeping as the online path
(:class:`streams.filing.Filing`).

Nothing here may stop the worker, and no waiting event is dropped:

* an outage (the teacher unavailable, its breaker open) while submitting,
  retrieving or downloading leaves everything as it is: logged, counted
  (``batch_errors``) and tried again at the next poll;
* a job that cannot give labels (it ended failed, expired or cancelled
  with no output file, its output is unreadable, or the endpoint refuses
  the job or no longer knows it), and any event a finished job did not
  answer, is labeled online instead (``batch_online``), at full price:
  each event then gets its own answer or, when the teacher refuses it,
  a review item with the error, as in the online path. Dead-lettering
  them would be wrong: the events are valid, only the job failed;
* a pending event the contract no longer accepts (stored by an older
  worker) is dead-lettered with the reason (stage ``batch``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import pydantic

from distillery.errors import TeacherError, TeacherUnavailableError
from distillery.events import BatchPending, DeadLetter, InferenceEvent
from distillery.taskspec import TaskSpec
from distillery.text import utf8_safe
from distillery.validation import describe_errors
from streams.filing import Outputs, TaskWork, stage
from streams.pipeline import Pipeline
from streams.sampling import Decision
from streams.store import pending
from streams.store.db import TaskStore
from streams.teacher.batch import FINAL, BatchLabeler
from streams.teacher.completions import TeacherResult
from streams.teacher.labeler import Labeled, label_all

log = logging.getLogger("distillery.streams")


async def poll_batches(pipe: Pipeline) -> Outputs:
    """Submit waiting events as Batch API jobs, and take in the jobs that finished (see the module)."""
    out = Outputs()
    for task in sorted(pipe.owned):
        spec = pipe.settings.task(task)
        if not spec.teacher.batch:
            continue
        store = pipe.store(task)
        labeler = pipe.labeler_factory(pipe.teacher(task))
        await _submit_waiting(pipe, task, spec, store, labeler, out)
        for batch_id in pending.job_ids(store):
            await _take_in(pipe, task, spec, store, labeler, batch_id, out)
        job = pipe.trigger(task, spec, store)
        if job is not None:
            out.jobs.append(job)
    return out


def _batch_error(pipe: Pipeline, task: str, what: str, exc: BaseException, then: str) -> None:
    pipe.counters.incr(task, "batch_errors")
    log.warning("task %s: Batch API %s failed (%s: %s); %s", task, what, type(exc).__name__,
                str(exc)[:300], then)


async def _submit_waiting(pipe: Pipeline, task: str, spec: TaskSpec, store: TaskStore, labeler: BatchLabeler,
                          out: Outputs) -> None:
    waiting = pending.unsent(store)
    if not waiting:
        return
    try:
        batch_id = await labeler.submit(dict(waiting))
    except TeacherUnavailableError as exc:
        _batch_error(pipe, task, "submit", exc, f"{len(waiting)} events wait for the next poll")
        return
    except TeacherError as exc:
        _batch_error(pipe, task, "submit", exc, f"{len(waiting)} events are labeled online instead")
        await _resolve(pipe, task, spec, store, pending.unsent_events(store), {}, out)
        return
    now = int(time.time() * 1000)
    sent = dict(waiting)
    submitted = [BatchPending(task=task, event_id=event_id, input=sent[event_id], event_json=event_json,
                              batch_id=batch_id, ts_ms=now)
                 for event_id, event_json in pending.unsent_events(store, limit=None)
                 if event_id in sent]
    ids = out.outbox.setdefault(task, [])
    # the job's id and its records for distill.pending, in one transaction
    records = [(f"pending:{rec.event_id}:{batch_id}", "pending", rec.key(), rec.to_json(), now) for rec in submitted]
    pending.mark_sent(store, batch_id, [event_id for event_id, _ in waiting], records)
    out.pending.extend(submitted)
    ids.extend(str(r[0]) for r in records)
    log.info("task %s: %d events sent as Batch API job %s", task, len(waiting), batch_id)


async def _take_in(pipe: Pipeline, task: str, spec: TaskSpec, store: TaskStore, labeler: BatchLabeler,
                   batch_id: str, out: Outputs) -> None:
    """Collect one job if it is finished; its events get their labels (online where the job gave none)."""
    results: dict[str, TeacherResult] = {}
    try:
        batch = await labeler.retrieve(batch_id)
        if batch.status not in FINAL:
            return
        ids = [event_id for event_id, _ in pending.in_job(store, batch_id)]
        outcome = await labeler.collect(batch, ids)
    except TeacherUnavailableError as exc:
        _batch_error(pipe, task, f"job {batch_id}", exc, "it is polled again later")
        return
    except TeacherError as exc:
        _batch_error(pipe, task, f"job {batch_id}", exc, "its events are labeled online instead")
        pipe.counters.incr(task, "batch_failed")
        status = "failed"
    else:
        results, status = outcome.results, outcome.status
        for event_id, why in list(outcome.errors.items())[:5]:
            log.info("task %s: Batch API job %s has no label for %s (%s); labeled online", task, batch_id,
                     event_id, why[:200])
    rows = pending.in_job(store, batch_id)
    if await _resolve(pipe, task, spec, store, rows, results, out):
        log.info("task %s: Batch API job %s %s, %d labels from the job, %d online", task, batch_id, status,
                 len(results), sum(1 for r in rows if r[0] not in results))


async def _resolve(pipe: Pipeline, task: str, spec: TaskSpec, store: TaskStore, rows: Sequence[tuple[str, str]],
                   results: dict[str, TeacherResult], out: Outputs) -> bool:
    """Give every pending event in ``rows`` its outcome: a job's result, else an online label.

    Written in one transaction; False (nothing written, the rows stay pending) when
    the worker is stopping during a teacher outage.
    """
    work = TaskWork()
    online: list[tuple[InferenceEvent, str, Decision | None]] = []
    for event_id, event_json in rows:
        try:
            ev = InferenceEvent.model_validate_json(event_json)
        except pydantic.ValidationError as err:
            out.deadletters.append(_stale_pending(pipe, task, store, event_id, event_json, err))
            work.batch.resolved[event_id] = "deadlettered"
            pipe.pending_decisions.pop(event_id, None)
            pipe.counters.incr(task, "deadlettered")
            continue
        text = pipe.redactors[task](ev.input_text()).text
        decision = pipe.pending_decisions.pop(event_id, None)
        result = results.get(event_id)
        if result is None:
            online.append((ev, text, decision))
            continue
        pipe.filing.teacher_answer(work, spec, ev, text, None, decision, Labeled(result))
    if online:
        pipe.counters.incr(task, "batch_online", len(online))
        try:
            got = await label_all(pipe.teacher(task), [text for _, text, _ in online], stop=pipe.stop)
        except TeacherUnavailableError as exc:  # stopping during an outage: the rows stay pending
            _batch_error(pipe, task, "online fallback", exc, "the events stay pending")
            return False
        for (ev, text, decision), labeled in zip(online, got, strict=True):
            pipe.filing.teacher_answer(work, spec, ev, text, None, decision, labeled)
    stage(task, work, out)
    store.write(work.batch)
    return True


def _stale_pending(pipe: Pipeline, task: str, store: TaskStore, event_id: str, event_json: str,
                   err: pydantic.ValidationError) -> DeadLetter:
    """The dead letter of a pending event the contract no longer accepts."""
    partition, offset = store.source_of(event_id) or (-1, -1)
    raw = utf8_safe(event_json).encode("utf-8")
    problems = describe_errors(err, _loads_or_none(event_json))
    log.warning("task %s: pending event %s no longer valid, dead-lettered: %s", task, event_id,
                "; ".join(problems)[:300])
    return DeadLetter.carrying(raw, task.encode(), task=task, reason="invalid", problems=problems,
                               source_topic=pipe.settings.topics.inference, source_partition=partition,
                               source_offset=offset, event_id=event_id, stage="batch")


def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
