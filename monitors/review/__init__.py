"""The human review queue: what people check, in which order, one reviewer per item.

Design. Decisions are events (``distill.reviewed``, applied by the streams
worker that owns the task), so the queue itself is only a *view*: it is
materialised from Kafka topics into one SQLite file
(``DATA_DIR/review/<prefix>queue.sqlite``) by :class:`~monitors.review.feed.QueueFeeder`,
a group-less consumer that reads every partition of ``distill.review`` (what
the filters sent: unsure, off the label set, malformed), ``distill.labeled``
(confident teacher answers, of which an audit share is drawn and, after a
drift alarm or on a schedule, a few per category become gold candidates),
``distill.reviewed`` (decisions, from any tool, close their items),
``distill.deadletter`` (a decision the task's owner refused reopens its item,
with the reason),
``drift.events`` and ``adapters.published`` / ``adapters.rejected`` (for the
priorities). Its offsets are stored in the same SQLite transaction as the
rows, so a restart resumes where it stopped and never counts a record twice.

Why here and not in the streams workers: each streams worker owns only some
partitions, while a reviewer wants one queue over every task; and the
workers' DuckDB files take one writer. Why SQLite: the review page (served by
the monitors' web app, which runs the feeder continuously) and the CLI (which
catches the feeder up before each command) are separate processes that share
the file; SQLite's ``BEGIN IMMEDIATE`` transactions make handing out a lease
atomic across them, so two reviewers never get the same item at once, and a
lease that expires gives an abandoned item back. Several streams workers change
nothing here (their outputs are on the topics); several monitors replicas each
serve a queue of their own, so reviewers of one deployment use one replica's
page (or share its data folder).

Modules: :mod:`.priority` (pure: audit draws and tiers), :mod:`.queue` (the
SQLite store), :mod:`.feed` (Kafka in), :mod:`.labelstudio` (export/import).
"""
