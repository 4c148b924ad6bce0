"""The DuckDB window store: one file per task, one writer (the partition owner)."""
