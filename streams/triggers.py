"""When a task's new data should become a train job, and the job it becomes.

:func:`retrain_reason` is the pure rule. Three triggers, from the task's
``[retrain]`` spec: enough new accepted examples since the last job, a
schedule, or a drift event. None fires before the task has
``min_train_examples`` to train on, nor within ``cooldown_minutes`` of the last
job: a trainer cannot use a job a second, and each export costs a snapshot.
:func:`retrain` reads the counts from the task's store, and when a trigger fires
exports the snapshot (:func:`streams.store.snapshot.export`) whose job is sent.

>>> from distillery.taskspec import RetrainSpec
>>> spec = RetrainSpec(min_new_examples=100, cooldown_minutes=10, min_train_examples=50)
>>> retrain_reason(spec, total=80, new=100, now_ms=0, last_job_ms=None, drift_ms=None)
'count'
>>> retrain_reason(spec, total=80, new=100, now_ms=60_000, last_job_ms=0, drift_ms=None) is None
True
>>> retrain_reason(spec, total=80, new=5, now_ms=11 * 60_000, last_job_ms=0, drift_ms=60_000)
'drift'
>>> retrain_reason(spec, total=80, new=5, now_ms=5 * 60_000, last_job_ms=0, drift_ms=60_000) is None
True
"""

from __future__ import annotations

import logging

from distillery.artifacts import ArtifactStore
from distillery.events import TrainReason
from distillery.taskspec import RetrainSpec, TaskSpec
from streams.store.db import TaskStore
from streams.store.snapshot import Snapshot, example_counts, export, is_published

log = logging.getLogger("distillery.streams")

MINUTE_MS = 60_000


def retrain_reason(
    spec: RetrainSpec,
    *,
    total: int,
    new: int,
    now_ms: int,
    last_job_ms: int | None,
    drift_ms: int | None,
) -> TrainReason | None:
    """The trigger that fires now, or ``None``.

    ``total`` is the task's train-split examples, ``new`` those added since the
    last job, ``drift_ms`` the time of the latest drift event on the task.
    """
    if total < spec.min_train_examples or new <= 0:
        return None
    since_job = None if last_job_ms is None else now_ms - last_job_ms
    if since_job is not None and since_job < spec.cooldown_minutes * MINUTE_MS:
        return None
    if new >= spec.min_new_examples:
        return "count"
    if spec.on_drift and drift_ms is not None and (last_job_ms is None or drift_ms > last_job_ms):
        return "drift"
    if spec.schedule_minutes > 0 and (since_job is None or since_job >= spec.schedule_minutes * MINUTE_MS):
        return "schedule"
    return None


def retrain(store: TaskStore, artifacts: ArtifactStore, task: str, spec: TaskSpec, *, now_ms: int,
            drift_ms: int | None) -> Snapshot | None:
    """The snapshot of the train job to send now, or ``None``.

    ``None`` too when the trigger fires on the same data as a job already sent:
    a repeated trigger starts nothing. The snapshot's ``new`` says whether the
    export added a copy to the artifact store.
    """
    total, last_job_ms, new = example_counts(store)
    reason = retrain_reason(spec.retrain, total=total, new=new, now_ms=now_ms, last_job_ms=last_job_ms,
                            drift_ms=drift_ms)
    if reason is None:
        return None
    snap = export(store, artifacts, task, reason=reason, mask_digits=spec.kind == "classification")
    if is_published(store, snap.job.job_id):
        return None
    log.info("task %s: retrain (%s) on %d train / %d eval examples -> job %s", task, reason,
             snap.job.n_train, snap.job.n_eval, snap.job.job_id)
    return snap
