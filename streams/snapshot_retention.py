"""Which training snapshots of a task may be deleted (pure; the deleting is :mod:`streams.store.snapshot`).

Every train job writes a full Parquet copy of the task's examples (and a gold
copy when the gold set changed) to the artifact store. Without a bound they
pile up for ever, so ``[streams] snapshots_keep`` and ``snapshots_min_age_days``
bound them. A snapshot is deleted only when *all* of these hold:

* it is not among the task's ``keep`` newest (by the time it was cut);
* it is older than ``min_age_ms``;
* no adapter that serves, or may serve again, names it: the pinned adapter and
  every adapter of the history still in force (the production adapter and each
  rollback target, :meth:`distillery.adapter_book.AdapterBook.candidates`). The
  monitors build their drift reference, and serving its vocabulary check, from
  that adapter's snapshot. An adapter an operator rolled back is no longer a
  candidate: pinning it again later works, without those two checks' reference;
* its job was never published on ``train.jobs``, or the trainer has given it a
  verdict (``adapters.published`` or ``adapters.rejected``): a queued job still
  needs its snapshot and gold set.

A gold file goes with the last snapshot row naming it. Below, j5 and j4 are the
newest, j3 waits for the trainer, j1 serves: only j2 (never published) goes.

>>> from distillery.events import AdapterPublished, GateMetrics, ModelScores
>>> m = GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0))
>>> book = AdapterBook()
>>> book.apply(AdapterPublished(task="t", adapter_id="a1", job_id="j1", uri="/x", sha256="0" * 64,
...                             base_model="b", student_prompt="", metrics=m, snapshot_uri="s1"))
>>> rows = [SnapshotRow(f"j{i}", f"s{i}", "g", created_ms=i * DAY_MS, published=i in (1, 3)) for i in range(1, 6)]
>>> policy = RetentionPolicy(keep=2, min_age_ms=DAY_MS)
>>> [r.job_id for r in doomed(rows, policy, in_use(book, "t", rows), now_ms=10 * DAY_MS)]
['j2']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from distillery.adapter_book import AdapterBook
from distillery.settings import Settings

DAY_MS = 86_400_000


@dataclass(frozen=True)
class SnapshotRow:
    """One row of a store's ``snapshots`` table, as retention sees it."""

    job_id: str
    uri: str
    gold_uri: str | None
    created_ms: int
    published: bool


@dataclass(frozen=True)
class RetentionPolicy:
    """How many snapshots a task keeps at least, and how old one must be to go."""

    keep: int
    min_age_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        s = settings.streams
        return cls(keep=s.snapshots_keep, min_age_ms=int(s.snapshots_min_age_days * DAY_MS))


@dataclass(frozen=True)
class InUse:
    """What still needs its snapshot: job ids and snapshot URIs."""

    job_ids: frozenset[str]
    uris: frozenset[str]


def in_use(book: AdapterBook, task: str, rows: Sequence[SnapshotRow]) -> InUse:
    """The task's snapshots an adapter that may serve or a job waiting for the trainer still names."""
    adapters = book.candidates(task)
    decided = {a.job_id for a in book.published.values() if a.task == task}
    decided |= {r.job_id for r in book.state(task).rejected}
    waiting = {r.job_id for r in rows if r.published and r.job_id not in decided}
    return InUse(job_ids=frozenset({a.job_id for a in adapters} | waiting),
                 uris=frozenset(a.snapshot_uri for a in adapters if a.snapshot_uri))


def doomed(rows: Sequence[SnapshotRow], policy: RetentionPolicy, use: InUse, *, now_ms: int) -> list[SnapshotRow]:
    """The rows whose snapshot may be deleted now, oldest first (see the module's rules)."""
    newest = sorted(rows, key=lambda r: (r.created_ms, r.job_id), reverse=True)
    out = [r for r in newest[policy.keep:]
           if now_ms - r.created_ms >= policy.min_age_ms and r.job_id not in use.job_ids and r.uri not in use.uris]
    return out[::-1]


def gold_to_delete(rows: Sequence[SnapshotRow], going: Sequence[SnapshotRow]) -> set[str]:
    """Gold URIs named only by rows that go (a gold set unchanged between jobs is one shared file)."""
    gone = {r.job_id for r in going}
    kept = {r.gold_uri for r in rows if r.job_id not in gone}
    return {r.gold_uri for r in going if r.gold_uri and r.gold_uri not in kept}
