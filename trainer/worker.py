"""The trainer worker: ``train.jobs`` in, ``adapters.published`` / ``adapters.rejected`` out.

One job at a time per worker; more workers share the topic as one consumer group
(``{prefix}distillery-trainer``). Training runs in a thread, off the event loop.
While it runs the job's partition is paused and the loop keeps polling, so the
worker keeps its heartbeats, its poll interval and therefore its partitions.
The job's offset is committed only after its verdict is on Kafka. A worker
killed mid-job leaves the offset uncommitted, so the job runs again on restart;
verdicts already on Kafka are read at start and before each job, so a job never
yields two adapters. The same read folds the adapter topics with the contract's
adapter book (:mod:`distillery.adapter_book`), so a candidate is compared with the
adapter serving serves, pins and rollbacks included.

Run it::

    distillery trainer            # start more to train several jobs at once
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

import pydantic
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from distillery.adapter_book import AdapterBook
from distillery.adapter_history import read_book
from distillery.counters import Counters
from distillery.counters_topic import resume as resume_counters
from distillery.errors import scrub_credentials
from distillery.events import AdapterPublished, AdapterRejected, TrainJob
from distillery.health import HealthServer, Readiness, consumer_lag
from distillery.kafka import consumer as kafka_consumer
from distillery.kafka import ensure_topics, make_producer, send_record
from distillery.runner import run_until_signal
from distillery.settings import Settings
from trainer.job import Production, run_job
from trainer.status import JobStatus

log = logging.getLogger("distillery.trainer")

STATUS_EVERY_S = 2.0
JOB_ATTEMPTS = 3
RETRY_PAUSE_S = 5.0
"""Runs of a job that raises before it is rejected (failed rule ``error``)."""
"""How often a worker with a job in hand publishes its progress."""
COUNTERS_EVERY_S = 60.0
"""How often an idle trainer publishes its counters on ``ops.counters`` (a training one: every STATUS_EVERY_S)."""


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: TrainerWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self.worker.current is not None and self.worker.current in set(revoked):
            log.warning("partition %s taken away mid-job: its verdict will not be published here",
                        self.worker.current)
            self.worker.abandoned = True

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.worker.joined = True


class TrainerWorker:
    """Consumes train jobs and publishes one verdict per job id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.done: set[str] = set()
        self.book = AdapterBook()
        """The adapter topics as last read, and this worker's own verdicts since."""
        self.current: TopicPartition | None = None
        self.abandoned = False
        self.in_flight = False
        self.attempts: dict[str, int] = {}
        """Failed attempts per job id (see :meth:`_failed`)."""
        self.counters = Counters.for_settings("trainer", settings)
        self.joined = False
        self.consumer: AIOKafkaConsumer | None = None
        self.published_at = -COUNTERS_EVERY_S
        """When the counters were last published (monotonic): an idle trainer still publishes them now and then,
        so its key never looks like a gone worker's (``counters_retention_days``)."""

    async def readiness(self) -> Readiness:
        """``/readyz``: joined the trainer group. Jobs waiting behind the one in hand are a queue, not
        a fault, so the count is reported and never makes the worker unready."""
        if self.consumer is None or not self.joined:
            return Readiness(False, "not yet a member of the trainer group (no assignment)")
        partitions, queued = await consumer_lag(self.consumer)
        detail = {"partitions": partitions, "queued_jobs": queued, "training": self.in_flight}
        return Readiness(True, f"joined; {'training, ' if self.in_flight else ''}{'?' if queued is None else queued} job(s) queued",
                         detail)

    async def publish_status(self, producer: Any, status: JobStatus | None) -> None:
        """Counters and the job in hand on ``ops.counters``: what dashboards show while a job trains."""
        if not self.counters.resumed:  # never publish before the key's last totals are read back (run does)
            return
        self.published_at = time.monotonic()
        snap: dict[str, Any] = self.counters.snapshot()
        snap["job"] = status.snapshot() if status is not None else None
        try:
            await producer.send_and_wait(self.settings.topics.counters, json.dumps(snap).encode(),
                                         key=self.counters.worker_id.encode())
        except KafkaError as exc:  # progress is for people watching: never worth failing a job over
            log.warning("could not publish progress: %s", exc)

    async def resume_counters(self, producer: Any) -> None:
        """Read this worker's last totals back from ``ops.counters`` and retire stale keys (once)."""
        async def send(key: str, value: bytes | None) -> None:
            await producer.send_and_wait(self.settings.topics.counters, value, key=key.encode())

        self.published_at = time.monotonic()  # a failed read is tried again COUNTERS_EVERY_S later
        try:
            await resume_counters(self.settings, self.counters, send)
        except Exception as exc:  # noqa: BLE001 - counters are for people watching: never worth stopping over
            log.warning("could not read the trainer's last counters back yet: %s: %s", type(exc).__name__, exc)

    async def load_history(self) -> None:
        """Which jobs already have a verdict, and which adapter serves each task.

        The adapter topics are folded by the contract's :class:`~distillery.adapter_book.AdapterBook`,
        the rules serving follows, so a candidate is compared with the adapter serving serves
        (pins, rollbacks and redeliveries included). Read at start and again before each job.
        """
        self.book = await read_book(self.settings)
        self.done |= self.book.judged

    def production(self, task: str) -> Production | None:
        """The adapter serving serves for ``task`` (what a candidate must not regress from); None before any."""
        chosen = self.book.chosen(task)
        if chosen is None:
            return None
        return Production(chosen.adapter_id, chosen.uri, chosen.sha256, chosen.head_sha256, chosen.base_model)

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        await ensure_topics(s)
        await self.load_history()
        consumer = kafka_consumer(
            s.kafka,
            group_id=f"{s.topic_prefix}distillery-trainer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=1,
            max_poll_interval_ms=s.trainer.max_poll_interval_s * 1000,
        )
        consumer.subscribe([s.topics.train_jobs], listener=_Revocations(self))
        self.consumer = consumer
        producer = make_producer(s)
        health = HealthServer(self.readiness, name="trainer")
        if s.trainer.health_port:
            await health.start(s.http.health_host, s.trainer.health_port)
        await consumer.start()
        await producer.start()
        try:
            while not stop.is_set():
                if time.monotonic() - self.published_at >= COUNTERS_EVERY_S:
                    if not self.counters.resumed:
                        await self.resume_counters(producer)
                    await self.publish_status(producer, None)
                batch = await consumer.getmany(timeout_ms=1000, max_records=1)
                for tp, records in batch.items():
                    for rec in records:
                        await self._handle(consumer, producer, tp, rec.offset, rec.value, stop)
        finally:
            await consumer.stop()
            await producer.stop()
            await health.close()

    async def _handle(self, consumer: AIOKafkaConsumer, producer: Any, tp: TopicPartition, offset: int,
                      value: bytes | None, stop: asyncio.Event) -> None:
        where = f"{tp.topic}[{tp.partition}]@{offset}"
        try:
            job = TrainJob.model_validate_json(value or b"")
        except pydantic.ValidationError as exc:
            log.warning("skipped %s: not a train job (%s)", where, str(exc).splitlines()[0])
            await consumer.commit({tp: offset + 1})
            return
        if job.task not in self.settings.tasks:
            log.warning("skipped %s: job %s names unknown task %r", where, job.job_id, job.task)
            await consumer.commit({tp: offset + 1})
            return
        try:  # an operator's pin or rollback, another worker's adapter: since the last read
            await self.load_history()
        except Exception as exc:  # noqa: BLE001 - the book as last read still holds; the job need not wait
            log.warning("could not read the adapter topics again before job %s (%s: %s); comparing with the "
                        "adapters as last read", job.job_id, type(exc).__name__, exc)
        if job.job_id in self.done:
            log.info("job %s already has a verdict: skipped", job.job_id)
            await consumer.commit({tp: offset + 1})
            return
        log.info("job %s (%s, %d examples) from %s", job.job_id, job.reason, job.n_train, where)
        consumer.pause(tp)
        self.current, self.abandoned = tp, False
        status = JobStatus(job.job_id, job.task)
        task = asyncio.create_task(asyncio.to_thread(
            run_job, job, self.settings, production=self.production(job.task), status=status))
        shown = 0.0
        try:
            while not task.done():
                # keep polling: heartbeats and the poll interval hold. The job's partition is paused,
                # but the others are not: a job fetched from one of them is put back, never dropped
                # (its offset would be committed past it with the next job of that partition)
                fetched = await consumer.getmany(timeout_ms=500)
                for other, records in fetched.items():
                    if records:
                        consumer.seek(other, records[0].offset)
                if time.monotonic() - shown >= STATUS_EVERY_S:
                    shown = time.monotonic()
                    await self.publish_status(producer, status)
                if stop.is_set():
                    log.warning("stopping mid-job %s: it will run again on restart", job.job_id)
                    self.in_flight = True
                    return
            try:
                verdict = task.result()
            except Exception as exc:  # noqa: BLE001 - no job may crash-loop the worker (it replays on restart)
                failed = self._failed(job, exc, where)
                if failed is None:  # tried again from the same offset, after a pause that grows
                    if self.abandoned:  # the partition went to another member, which runs it again
                        return
                    consumer.seek(tp, offset)
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=RETRY_PAUSE_S * self.attempts[job.job_id])
                    except TimeoutError:
                        pass
                    return
                verdict = failed
            status.enter("done")
            await self.publish_status(producer, status)  # the whole history, however short the job was
        finally:
            self.current = None
            if not stop.is_set() and not self.abandoned:  # a revoked partition cannot be resumed
                consumer.resume(tp)
        if self.abandoned:
            return
        await send_record(producer, self.settings, verdict)
        self.done.add(job.job_id)
        self.attempts.pop(job.job_id, None)  # a job that raised before and then finished
        self.counters.incr(job.task, "jobs_promoted" if isinstance(verdict, AdapterPublished) else "jobs_rejected")
        await self.publish_status(producer, None)
        self.book.apply(verdict)  # serves next unless the task is pinned (the book's rule, as serving's)
        if isinstance(verdict, AdapterPublished):
            log.info("job %s: promoted %s (gold accuracy %.3f)", job.job_id, verdict.adapter_id,
                     verdict.metrics.candidate.accuracy)
        else:
            log.info("job %s: rejected (%s: %s)", job.job_id, verdict.reason, ", ".join(verdict.failed_rules))
        await consumer.commit({tp: offset + 1})


    def _failed(self, job: TrainJob, exc: BaseException, where: str) -> AdapterRejected | None:
        """A job that raised: None to run it again (``JOB_ATTEMPTS`` in all), then its rejection.

        A failure may be passing (an artifact store that did not answer, memory
        another process held) or the job's own (a base model that does not
        exist, a snapshot that is not one): either way the job gets a verdict
        after its last attempt, so it is never lost and never replays for ever.
        """
        tries = self.attempts.get(job.job_id, 0) + 1
        self.attempts[job.job_id] = tries
        what = scrub_credentials(f"{type(exc).__name__}: {exc}")[:2000]
        log.error("job %s from %s failed (attempt %d of %d): %s", job.job_id, where, tries, JOB_ATTEMPTS, what,
                  exc_info=exc)
        self.counters.incr(job.task, "job_errors")
        if tries < JOB_ATTEMPTS:
            return None
        self.attempts.pop(job.job_id, None)
        return AdapterRejected(task=job.task, job_id=job.job_id, failed_rules=["error"],
                               reason=f"the job failed {tries} times; last: {what}")


def run_worker(settings: Settings) -> None:
    """Run one trainer worker until SIGINT or SIGTERM."""

    async def work(stop: asyncio.Event) -> None:
        worker = TrainerWorker(settings)
        await worker.run(stop)
        if worker.in_flight:
            # a training thread cannot be interrupted; its job was not committed and will run again
            log.warning("exiting with a job in flight")
            os._exit(0)

    run_until_signal(work)
