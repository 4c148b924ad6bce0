"""The DuckDB window store: one file per task, one writer (the partition owner).

Every SQL statement against a task's store lives in this package, behind named
functions: :mod:`~streams.store.schema` (the tables), :mod:`~streams.store.db`
(the connection, batched writes, the events table), :mod:`~streams.store.pending`
(events waiting for a Batch API job), :mod:`~streams.store.review` (people's
decisions), :mod:`~streams.store.restore` (merging rows read back from Kafka),
:mod:`~streams.store.snapshot` (training snapshots and the retrain counts) and
:mod:`~streams.store.reads` (what the report and ``distillery gold show`` read).
"""
