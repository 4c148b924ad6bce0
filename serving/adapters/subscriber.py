"""The adapter subscriber: follows ``adapters.published`` and ``adapters.control`` and hot-swaps.

Every serving replica must see every event, so the subscriber has no consumer
group: it assigns itself every partition of both topics and reads them from the
beginning each time it starts. The backlog up to the end offsets found at start
is folded into an :class:`~distillery.adapter_book.AdapterBook` in the order the
records were produced (pins and rollbacks honoured) without loading anything;
then the adapter each task should serve is loaded once, and from there every
new record is applied as it arrives. Nothing is committed: a restarted replica
rebuilds the same state from the topics.

An adapter is fetched into ``DATA_DIR/serving/adapters`` and verified (its
manifest, or its weights' SHA-256) before any target sees it. A mismatch or a
folder that would write outside its place is refused, logged and never retried
(the same bytes would fail again); the target keeps what it served. Any other
failure (an unreadable URI, a missing fsspec backend, a target that cannot load
it) is logged with the record it came from and tried again on the next event,
and meanwhile the next candidate in line serves. No adapter record can stop the
subscriber: it replays both topics from the beginning at every start, so one
that raised would crash-loop every replica.

It also reads ``drift.events`` the same way, keeping the time of each task's
latest alarm (:meth:`AdapterSubscriber.drift_since`): the router is more careful
with a student whose adapter predates the last alarm (:mod:`serving.escalation`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import pydantic
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from distillery.adapter_book import AdapterBook, in_event_order
from distillery.errors import ArtifactError, BrokerUnavailableError, DistilleryError, IntegrityError
from distillery.events import AdapterControl, AdapterPublished, DriftEvent
from distillery.kafka import consumer as kafka_consumer
from distillery.kafka import ensure_topics
from distillery.settings import Settings
from serving.adapters.fetch import LocalAdapter, fetch_adapter

log = logging.getLogger("distillery.serving")

NoteKind = Literal["verified", "switched", "refused", "unavailable", "failed", "control", "ready", "first_answer"]


@dataclass(frozen=True)
class SwapNote:
    """One thing the subscriber did, for the log and the ``adapters watch`` output."""

    kind: NoteKind
    task: str
    adapter_id: str | None = None
    previous: str | None = None
    reason: str = ""
    """What led to it: start, published, pin, unpin or rollback."""
    detail: str = ""
    seconds: float = 0.0
    target: str = ""


class AdapterTarget(Protocol):
    """Where adapters are served: :class:`InProcessServer` or :class:`VllmServer`."""

    kind: str

    def serving(self, task: str) -> str | None: ...

    async def activate(self, adapter: LocalAdapter) -> None: ...


class AdapterSubscriber:
    """Keeps every target serving each task's current adapter."""

    def __init__(self, settings: Settings, targets: Sequence[AdapterTarget], *, tasks: Iterable[str] | None = None,
                 cache_dir: Path | None = None, on_note: Callable[[SwapNote], None] | None = None) -> None:
        self.settings = settings
        self.targets = list(targets)
        self.tasks = set(tasks) if tasks is not None else None
        self.cache_dir = cache_dir or settings.data_dir / "serving" / "adapters"
        self.on_note = on_note
        self.book = AdapterBook()
        self.refused: dict[str, str] = {}
        self.notes: collections.deque[SwapNote] = collections.deque(maxlen=1000)
        self.ready = asyncio.Event()
        self._local: dict[str, LocalAdapter] = {}
        self._where: dict[str, str] = {}
        """adapter id -> the record that published it (``topic[partition]@offset``), for the log."""
        self._drift_at: dict[str, int] = {}

    def drift_since(self, task: str) -> int | None:
        """When the latest drift alarm of ``task`` was detected (epoch ms); None before any."""
        return self._drift_at.get(task)

    def watches(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks

    # ----------------------------------------------------------------- loop
    async def run(self, stop: asyncio.Event) -> None:
        """Catch up, serve the current adapters, then follow both topics until ``stop``."""
        s, t = self.settings, self.settings.topics
        await ensure_topics(s, [t.published, t.control, t.drift])
        consumer = kafka_consumer(s.kafka, enable_auto_commit=False,
                                  auto_offset_reset="earliest", client_id="distillery-adapters-watch")
        await consumer.start()
        try:
            parts = await _assign(consumer, [t.published, t.control, t.drift], s.kafka.bootstrap_servers)
            ends = await consumer.end_offsets(parts)
            backlog: list[ConsumerRecord[bytes, bytes]] = []
            while not stop.is_set() and any([await consumer.position(tp) < ends[tp] for tp in parts]):
                batch = await consumer.getmany(timeout_ms=500)
                backlog.extend(r for recs in batch.values() for r in recs)
            for rec in in_event_order(backlog):
                self._fold_safely(rec)
            for task in self.book.tasks():
                if self.watches(task):
                    await self._reconcile_safely(task, "start")
            self._note(SwapNote("ready", "*", detail=self._summary(len(backlog))))
            self.ready.set()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for rec in in_event_order([r for recs in batch.values() for r in recs]):
                    changed = self._fold_safely(rec)
                    if changed is not None and self.watches(changed[0]):
                        await self._reconcile_safely(*changed, rec=rec)
        finally:
            await consumer.stop()

    def _fold_safely(self, rec: ConsumerRecord[bytes, bytes]) -> tuple[str, str] | None:
        """:meth:`_fold`, a record it cannot apply logged and skipped: no record stops the replica."""
        try:
            return self._fold(rec)
        except Exception:  # replayed at every start, a record that raised would crash-loop
            log.exception("skipped %s[%d]@%d: cannot apply it", rec.topic, rec.partition, rec.offset)
            return None

    async def _reconcile_safely(self, task: str, reason: str, *, rec: ConsumerRecord[bytes, bytes] | None = None) -> None:
        """:meth:`reconcile`, an unexpected failure logged (with the record that led to it) instead of raised."""
        try:
            await self.reconcile(task, reason)
        except Exception:  # the task keeps what it serves; the next record tries again
            where = f" after {rec.topic}[{rec.partition}]@{rec.offset}" if rec is not None else ""
            log.exception("task %s: reconcile (%s)%s failed; it keeps what it serves", task, reason, where)

    def _fold(self, rec: ConsumerRecord[bytes, bytes]) -> tuple[str, str] | None:
        """Apply one record; (task, reason) when it may change what a task serves."""
        if rec.topic == self.settings.topics.drift:
            self._fold_drift(rec)
            return None
        model: type[AdapterPublished] | type[AdapterControl] = (
            AdapterPublished if rec.topic == self.settings.topics.published else AdapterControl)
        try:
            record = model.model_validate_json(rec.value or b"")
        except pydantic.ValidationError as exc:
            log.warning("skipped %s[%d]@%d: not a %s (%s)", rec.topic, rec.partition, rec.offset, model.__name__,
                        str(exc).splitlines()[0])
            return None
        self.book.apply(record)
        if isinstance(record, AdapterPublished):
            self._where.setdefault(record.adapter_id, f"{rec.topic}[{rec.partition}]@{rec.offset}")
            return record.task, "published"
        if self.ready.is_set() and self.watches(record.task):
            what = record.action + (f" {record.adapter_id}" if record.adapter_id else "")
            by = f" by {record.operator}" if record.operator else ""
            self._note(SwapNote("control", record.task, record.adapter_id, reason=record.action,
                                detail=f"{what}{by}" + (f": {record.note}" if record.note else "")))
        return record.task, record.action

    def _fold_drift(self, rec: ConsumerRecord[bytes, bytes]) -> None:
        try:
            drift = DriftEvent.model_validate_json(rec.value or b"")
        except pydantic.ValidationError as exc:
            log.warning("skipped %s[%d]@%d: not a DriftEvent (%s)", rec.topic, rec.partition, rec.offset,
                        str(exc).splitlines()[0])
            return
        if drift.detected_at_ms > self._drift_at.get(drift.task, 0):
            self._drift_at[drift.task] = drift.detected_at_ms

    # ------------------------------------------------------------ reconcile
    async def reconcile(self, task: str, reason: str) -> None:
        """Make every target serve the first candidate of ``task`` it can load."""
        for target in self.targets:
            current = target.serving(task)
            for ev in self.book.candidates(task):
                if ev.adapter_id == current:
                    break
                if ev.adapter_id in self.refused or not await self._switch(target, ev, current, reason):
                    continue
                break

    async def _switch(self, target: AdapterTarget, ev: AdapterPublished, current: str | None, reason: str) -> bool:
        local = await self._fetch(ev, reason)
        if local is None:
            return False
        started = time.perf_counter()
        try:
            await target.activate(local)
        except DistilleryError as exc:
            self._note(SwapNote("failed", ev.task, ev.adapter_id, current, reason, self._detail(ev, exc),
                                target=target.kind))
            return False
        except Exception as exc:  # noqa: BLE001 - one adapter the engine chokes on must not stop the replica
            self._note(SwapNote("failed", ev.task, ev.adapter_id, current, reason,
                                self._detail(ev, exc, unexpected=True), target=target.kind))
            return False
        self._note(SwapNote("switched", ev.task, ev.adapter_id, current, reason,
                            seconds=time.perf_counter() - started, target=target.kind))
        return True

    async def _fetch(self, ev: AdapterPublished, reason: str) -> LocalAdapter | None:
        if ev.adapter_id in self._local:
            return self._local[ev.adapter_id]
        started = time.perf_counter()
        try:
            local = await asyncio.to_thread(fetch_adapter, ev, self.cache_dir)
        except IntegrityError as exc:
            self.refused[ev.adapter_id] = str(exc)
            self._note(SwapNote("refused", ev.task, ev.adapter_id, reason=reason, detail=self._detail(ev, exc)))
            return None
        except ArtifactError as exc:
            self._note(SwapNote("unavailable", ev.task, ev.adapter_id, reason=reason, detail=self._detail(ev, exc)))
            return None
        except Exception as exc:  # noqa: BLE001 - fetch_adapter maps its failures; this is the last guard
            self._note(SwapNote("unavailable", ev.task, ev.adapter_id, reason=reason,
                                detail=self._detail(ev, exc, unexpected=True)))
            return None
        self._local[ev.adapter_id] = local
        self._note(SwapNote("verified", ev.task, ev.adapter_id, reason=reason, seconds=time.perf_counter() - started,
                            detail=str(local.path)))
        return local

    def _detail(self, ev: AdapterPublished, exc: BaseException, *, unexpected: bool = False) -> str:
        """What went wrong with ``ev``, and the record that published it (skipped, the replica serves on)."""
        what = f"{type(exc).__name__}: {exc}" if unexpected else str(exc)
        where = self._where.get(ev.adapter_id)
        return f"{what} (record {where}; skipped)" if where else what

    def _summary(self, records: int) -> str:
        tasks = [t for t in self.book.tasks() if self.watches(t)]
        serving = ", ".join(f"{t}={self.targets[0].serving(t) or 'none'}" for t in tasks) if self.targets else ""
        return f"{records} records read; serving {serving or 'nothing yet'}"

    def _note(self, note: SwapNote) -> None:
        self.notes.append(note)
        if self.on_note is not None:
            self.on_note(note)  # whoever asked for the notes shows them; logging them too would say it twice
            return
        level = logging.WARNING if note.kind in ("refused", "unavailable", "failed") else logging.INFO
        log.log(level, "%s %s %s%s%s", note.kind, note.task, note.adapter_id or "",
                f" (was {note.previous})" if note.previous else "", f": {note.detail}" if note.detail else "")


async def _assign(consumer: AIOKafkaConsumer, topics: list[str], bootstrap: str) -> list[TopicPartition]:
    """Assign every partition of ``topics`` (no group: this replica reads them all) from the beginning."""
    for _ in range(50):
        await consumer._client.force_metadata_update()
        found = {topic: consumer.partitions_for_topic(topic) for topic in topics}
        if all(found.values()):
            parts = [TopicPartition(topic, p) for topic in topics for p in sorted(found[topic] or ())]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            return parts
        await asyncio.sleep(0.2)
    raise BrokerUnavailableError(f"the broker at {bootstrap} shows no partitions for {topics} after 10s; "
                                 "check it with `distillery kafka status` and create them with `distillery kafka topics create`")
