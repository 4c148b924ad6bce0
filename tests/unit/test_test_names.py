"""Test modules need unique file names: pytest imports them by basename (no packages under tests/ or capture/tests/)."""

from __future__ import annotations

import collections
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_file_name() -> None:
    roots = (TESTS, TESTS.parent / "capture" / "tests")  # the capture SDK's suite runs in the same session
    names = collections.Counter(p.name for root in roots for p in root.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []
