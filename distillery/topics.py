"""Topic names: the contract's default names behind a configurable prefix.

>>> t = Topics(prefix="acme.")
>>> t.inference, t.deadletter
('acme.inference.events', 'acme.distill.deadletter')
>>> len(t.all())
13
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

INFERENCE: Final = "inference.events"
LABELED: Final = "distill.labeled"
REVIEW: Final = "distill.review"
DEADLETTER: Final = "distill.deadletter"
DRIFT: Final = "drift.events"
TRAIN_JOBS: Final = "train.jobs"
PUBLISHED: Final = "adapters.published"
REJECTED: Final = "adapters.rejected"
CONTROL: Final = "adapters.control"
REVIEWED: Final = "distill.reviewed"
GOLD: Final = "distill.gold"
PENDING: Final = "distill.pending"
COUNTERS: Final = "ops.counters"
NAMES: Final = (INFERENCE, LABELED, REVIEW, DEADLETTER, DRIFT, TRAIN_JOBS, PUBLISHED, REJECTED, CONTROL,
                REVIEWED, GOLD, PENDING, COUNTERS)
"""The contract's topic names, spelled here once (each record's ``topic_name`` is one of them)."""


@dataclass(frozen=True)
class Topics:
    """The thirteen topics of one deployment, all behind the same ``prefix``."""

    prefix: str = ""

    def name(self, base: str) -> str:
        """The full topic name for a contract name such as ``drift.events``."""
        return f"{self.prefix}{base}"

    @property
    def inference(self) -> str:
        return self.name(INFERENCE)

    @property
    def labeled(self) -> str:
        return self.name(LABELED)

    @property
    def review(self) -> str:
        return self.name(REVIEW)

    @property
    def deadletter(self) -> str:
        return self.name(DEADLETTER)

    @property
    def drift(self) -> str:
        return self.name(DRIFT)

    @property
    def train_jobs(self) -> str:
        return self.name(TRAIN_JOBS)

    @property
    def published(self) -> str:
        return self.name(PUBLISHED)

    @property
    def rejected(self) -> str:
        return self.name(REJECTED)

    @property
    def control(self) -> str:
        return self.name(CONTROL)

    @property
    def reviewed(self) -> str:
        """People's decisions on review items (:class:`~distillery.events.ReviewDecision`)."""
        return self.name(REVIEWED)

    @property
    def counters(self) -> str:
        """Worker counters (ops and break-even report), compacted by key."""
        return self.name(COUNTERS)

    @property
    def gold(self) -> str:
        """The tasks' gold rows (:class:`~distillery.events.GoldExample`), kept for good."""
        return self.name(GOLD)

    @property
    def pending(self) -> str:
        """Events waiting for a Batch API job (:class:`~distillery.events.BatchPending`)."""
        return self.name(PENDING)

    def retained(self) -> set[str]:
        """Topics a task's store is rebuilt from (:mod:`streams.restore`): created with no time limit.

        Kafka, not a worker's disk, holds a task's examples, review items, gold
        rows, waiting events, review decisions and train jobs, so these keep every
        record (``retention.ms=-1``).
        """
        return {self.labeled, self.review, self.gold, self.reviewed, self.pending, self.train_jobs}

    def all(self) -> list[str]:
        """Every topic the system uses."""
        return [self.name(n) for n in NAMES]

    def compacted(self) -> set[str]:
        """Topics where only the latest value per key matters.

        Not ``adapters.control``: a rollback is relative to the ones before it, so
        every control record must survive for a new replica to replay them.
        """
        return {self.counters}
