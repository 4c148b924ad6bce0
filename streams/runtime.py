"""Process-wide settings of a streams worker that change how fast it runs, not what it does."""

from __future__ import annotations

import gc

import pyarrow as pa

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between collections of the youngest generation (Python's default is 700).

A batch keeps thousands of rows, events and records alive until its DuckDB commit;
with the default, the collector walks them again and again while the batch is built.
Measured on the pipeline alone (2,000-event batches of the bench's events): 63 us
per event with the defaults, 45 us with this threshold and the start-up objects
frozen. Reference cycles are still collected, just in larger, rarer sweeps."""


def tune_gc(young_threshold: int = GC_YOUNG_THRESHOLD) -> None:
    """Collect once, freeze what start-up built (never garbage, never walked again),
    and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, older, oldest)


def warm_up() -> None:
    """Pay the one-time costs of the hot path at start, not in the first batch.

    pyarrow imports pandas the first time it builds a table (0.2 s measured on the
    development machine); the store builds one per table in every batch.
    """
    pa.table({"warm": ["up"]})
