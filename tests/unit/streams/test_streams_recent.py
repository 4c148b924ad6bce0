"""Recent ids: bounded in count, and in memory whatever the ids' length (issue #13)."""

from __future__ import annotations

import tracemalloc

from streams.recent import RecentIds


def _footprint(ids: list[str]) -> int:
    tracemalloc.start()
    try:
        recent = RecentIds(len(ids))
        recent.add_all(ids)
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_long_ids_cost_what_short_ones_do() -> None:
    short = [str(i) for i in range(20_000)]
    long = ["x" * 500 + str(i) for i in range(20_000)]
    assert _footprint(long) < 1.1 * _footprint(short)  # as strings the long ones would take 10x
    recent = RecentIds(3)
    recent.add_all(long[:5])
    assert [i in recent for i in long[:5]] == [False, False, True, True, True] and len(recent) == 3
    assert 42 not in recent  # type: ignore[comparison-overlap]
