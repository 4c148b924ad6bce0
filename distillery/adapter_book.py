"""Which adapter serves each task, folded from the adapter topics (pure, part of the contract).

Every subscriber, the trainer, the monitors and ``distillery adapters list`` read the same
history and must agree (the trainer compares each candidate with the adapter serving
serves), so the rules live here once:

* ``adapters.published`` appends to the task's history (a redelivered adapter id
  is ignored);
* ``pin`` serves the named adapter whatever is published later (a pin naming an
  adapter this task never published is ignored); ``unpin`` lifts it;
* ``rollback`` drops the newest adapter from the history, when there is an
  older one to fall back to.

The adapter to serve is the pinned one, else the newest in the history.
Records are applied in the order they happened (:func:`in_event_order`), across
the three topics: a rollback pops what was published before it, not after.
:meth:`AdapterBook.candidates` lists what to fall back to, in order, when a
subscriber cannot load the first one (a checksum mismatch, an unreadable URI).

>>> from distillery.events import GateMetrics, ModelScores
>>> m = GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0))
>>> def pub(i): return AdapterPublished(task="t", adapter_id=f"a{i}", job_id=f"j{i}", uri="/x",
...                                     sha256="0" * 64, base_model="b", student_prompt="", metrics=m)
>>> book = AdapterBook()
>>> for r in (pub(1), pub(2), pub(3), AdapterControl(task="t", action="rollback")):
...     book.apply(r)
>>> book.chosen("t").adapter_id, [e.adapter_id for e in book.candidates("t")]
('a2', ['a2', 'a1'])
>>> book.apply(AdapterControl(task="t", action="pin", adapter_id="a1"))
>>> book.chosen("t").adapter_id, book.state("t").rolled_back
('a1', ['a3'])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from distillery.events import AdapterControl, AdapterPublished, AdapterRejected

AdapterRecord = AdapterPublished | AdapterRejected | AdapterControl


class Stamped(Protocol):
    """What :func:`in_event_order` reads of a Kafka record (aiokafka's ``ConsumerRecord`` has it)."""

    @property
    def timestamp(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=Stamped)


def in_event_order(records: Iterable[R]) -> list[R]:
    """Records of the adapter topics in the order they happened: by timestamp, ties by topic, partition, offset.

    Each topic is read on its own, so reading order is not event order: a
    rollback read after a later publish must still pop what came before it.

    >>> from types import SimpleNamespace as Rec
    >>> read = [Rec(timestamp=3, topic="adapters.published", partition=0, offset=1),
    ...         Rec(timestamp=1, topic="adapters.published", partition=0, offset=0),
    ...         Rec(timestamp=2, topic="adapters.control", partition=0, offset=0)]
    >>> [(r.topic, r.timestamp) for r in in_event_order(read)]
    [('adapters.published', 1), ('adapters.control', 2), ('adapters.published', 3)]
    """
    return sorted(records, key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))


@dataclass
class TaskAdapters:
    """One task's adapters: the history still in force, the pin, what was rolled back."""

    history: list[str] = field(default_factory=list)
    pinned: str | None = None
    rolled_back: list[str] = field(default_factory=list)
    rejected: list[AdapterRejected] = field(default_factory=list)


class AdapterBook:
    """Published adapters and operator decisions, applied in the order they happened."""

    def __init__(self) -> None:
        self.published: dict[str, AdapterPublished] = {}
        self.judged: set[str] = set()
        """Every job id with a verdict (published or rejected): a job never yields two."""
        self._tasks: dict[str, TaskAdapters] = {}

    def state(self, task: str) -> TaskAdapters:
        """The task's state (empty when nothing was published for it yet)."""
        return self._tasks.setdefault(task, TaskAdapters())

    def tasks(self) -> list[str]:
        """Every task the topics mention, sorted."""
        return sorted(self._tasks)

    def apply(self, record: AdapterRecord) -> None:
        """Fold one record into the book."""
        st = self.state(record.task)
        if not isinstance(record, AdapterControl):
            self.judged.add(record.job_id)
        if isinstance(record, AdapterPublished):
            if record.adapter_id not in self.published:
                self.published[record.adapter_id] = record
                st.history.append(record.adapter_id)
        elif isinstance(record, AdapterRejected):
            st.rejected.append(record)
        elif record.action == "pin":
            known = self.published.get(record.adapter_id or "")
            if known is not None and known.task == record.task:
                st.pinned = known.adapter_id
        elif record.action == "unpin":
            st.pinned = None
        elif len(st.history) > 1:
            st.rolled_back.append(st.history.pop())

    def chosen(self, task: str) -> AdapterPublished | None:
        """The adapter the task should serve: the pinned one, else the newest."""
        found = self.candidates(task)
        return found[0] if found else None

    def candidates(self, task: str) -> list[AdapterPublished]:
        """What to serve, in order of preference: the pin, then the history newest first."""
        st = self._tasks.get(task)
        if st is None:
            return []
        ids = ([st.pinned] if st.pinned else []) + [i for i in reversed(st.history) if i != st.pinned]
        return [self.published[i] for i in ids]

    def previous(self, task: str) -> AdapterPublished | None:
        """What a rollback would serve next (the second newest in the history)."""
        st = self._tasks.get(task)
        if st is None or len(st.history) < 2:
            return None
        return self.published[st.history[-2]]
