"""One transaction helper for every multi-statement write (:meth:`TaskStore.transaction`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.store.db import TaskStore


@pytest.mark.parametrize("hold_s", [0.0, 60.0])
def test_a_failed_transaction_leaves_nothing_and_a_good_one_commits(tmp_path: Path, hold_s: float) -> None:
    store = TaskStore(tmp_path / "t.duckdb", hold_s=hold_s)
    with pytest.raises(RuntimeError, match="half way"), store.transaction() as con:
        con.execute("INSERT INTO meta VALUES ('a', '1')")
        raise RuntimeError("half way")
    with store.transaction() as con:
        con.execute("INSERT INTO meta VALUES ('b', '2')")
    assert store.query("SELECT key, value FROM meta WHERE key IN ('a', 'b')") == [("b", "2")]
    store.close()
