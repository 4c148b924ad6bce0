"""DuckDB tables of a task's store, created idempotently.

``events`` holds every valid event the worker read (its input already redacted)
and what sampling decided; ``examples`` the labels fit to train on; ``review``
what a human should look at; ``gold`` the frozen gold set, never trained on;
``spend`` one row per teacher call, so money is counted once per event;
``snapshots`` every exported training snapshot and the job it became;

``events`` and ``examples`` carry no primary-key index: it would triple the cost
of every insert on the hot path. Their writer guarantees one row per event id
instead (:class:`streams.pipeline.Pipeline` checks ids at or below the stored
Kafka high-water mark, and remembers recent ids); the low-volume tables keep theirs.
``pending`` the events waiting on a Batch API job (non-urgent tasks).
``outbox`` the records a batch must publish (labeled examples, review items),
written in the batch's own transaction and deleted once Kafka has them: a
produce failure or a kill between the two leaves them here, and the task's next
owner publishes them before anything else, so the topics never miss what the
store holds (at least once: a record may go out twice, never zero times).
``meta`` where the last restore from Kafka stopped, per topic partition
(:mod:`streams.restore`).
"""

from __future__ import annotations

import duckdb

DDL = (
    """CREATE TABLE IF NOT EXISTS events (
        event_id VARCHAR NOT NULL, input VARCHAR, output VARCHAR, model VARCHAR, route VARCHAR,
        confidence DOUBLE, category VARCHAR, outcome VARCHAR, ts_ms BIGINT, ingested_ms BIGINT,
        kafka_partition INTEGER, kafka_offset BIGINT, prompt_tokens INTEGER, completion_tokens INTEGER)""",
    """CREATE TABLE IF NOT EXISTS examples (
        event_id VARCHAR NOT NULL, input VARCHAR, label VARCHAR, category VARCHAR, source VARCHAR,
        teacher_model VARCHAR, teacher_confidence DOUBLE, student_output VARCHAR, split VARCHAR,
        window_id BIGINT, ingested_ms BIGINT)""",
    """CREATE TABLE IF NOT EXISTS review (
        event_id VARCHAR PRIMARY KEY, input VARCHAR, reason VARCHAR, teacher_output VARCHAR,
        teacher_confidence DOUBLE, status VARCHAR, ingested_ms BIGINT)""",
    """CREATE TABLE IF NOT EXISTS gold (
        gold_id VARCHAR PRIMARY KEY, input VARCHAR, label VARCHAR, category VARCHAR, source VARCHAR,
        teacher_label VARCHAR, teacher_confidence DOUBLE, added_ms BIGINT)""",
    """CREATE TABLE IF NOT EXISTS spend (
        event_id VARCHAR PRIMARY KEY, cost_usd DOUBLE, prompt_tokens INTEGER, completion_tokens INTEGER,
        batch BOOLEAN, model VARCHAR, ts_ms BIGINT)""",
    """CREATE TABLE IF NOT EXISTS snapshots (
        job_id VARCHAR PRIMARY KEY, sha256 VARCHAR, uri VARCHAR, gold_uri VARCHAR, n_train INTEGER,
        n_eval INTEGER, reason VARCHAR, created_ms BIGINT, published BOOLEAN)""",
    """CREATE TABLE IF NOT EXISTS pending (
        event_id VARCHAR PRIMARY KEY, input VARCHAR, event_json VARCHAR, batch_id VARCHAR, created_ms BIGINT)""",
    """CREATE TABLE IF NOT EXISTS outbox (
        record_id VARCHAR PRIMARY KEY, kind VARCHAR, record_key BLOB, record_value BLOB, created_ms BIGINT)""",
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
)


def create(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table that does not exist yet."""
    for stmt in DDL:
        con.execute(stmt)
