"""A job that raises never crash-loops the trainer and is never lost (issue #13).

Before: an exception from the job (a base model that does not exist, a production
adapter the store could not give back) escaped the worker, the offset was never
committed, and every restart ran the same job into the same exception.
"""

from __future__ import annotations

from distillery.events import AdapterRejected, TrainJob
from distillery.settings import Settings
from trainer.worker import JOB_ATTEMPTS, TrainerWorker


def test_a_failing_job_is_tried_again_then_rejected_with_the_error_and_no_credential(settings_factory) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = settings_factory()
    worker = TrainerWorker(settings)
    job = TrainJob(task="transactions", job_id="job-1", snapshot_uri="file:///nowhere.parquet",
                   snapshot_sha256="0" * 64, n_train=10, n_eval=1, reason="count")
    error = OSError("artifact store said 401: Bearer eyJhbGciOiJIUzI1NiJ9.payload")
    verdicts = [worker._failed(job, error, "train.jobs[0]@7") for _ in range(JOB_ATTEMPTS)]
    assert verdicts[:-1] == [None] * (JOB_ATTEMPTS - 1)
    last = verdicts[-1]
    assert isinstance(last, AdapterRejected) and last.failed_rules == ["error"] and last.job_id == "job-1"
    assert "OSError" in last.reason and "eyJhbGci" not in last.reason and "[CREDENTIAL]" in last.reason
    assert worker.counters.get("transactions", "job_errors") == JOB_ATTEMPTS
    assert worker._failed(job, error, "train.jobs[0]@7") is None  # a new round for a job seen again later
