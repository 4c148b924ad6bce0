"""The streams worker: validate, sample, label and store production inference events.

A Faust app (:mod:`streams.app`) hosts it, but ingest is no agent: one aiokafka
batch consumer (:mod:`streams.consumer`) reads ``inference.events``,
``drift.events`` and ``distill.reviewed`` in batches and hands each to the
online path (:mod:`streams.pipeline`); timers poll Batch API jobs
(:mod:`streams.teacher.batch_poll`), release idle stores and publish counters.
The teacher's modules are :mod:`streams.teacher`; every SQL statement against a
task's DuckDB store is in :mod:`streams.store`.
"""
