"""Worker process tuning: the collector's young threshold is raised and start-up objects frozen."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from streams.runtime import GC_YOUNG_THRESHOLD, tune_gc

ROOT = Path(__file__).resolve().parents[3]


def test_tune_gc_freezes_start_up_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_warm_up_loads_what_the_first_table_would() -> None:
    # a fresh interpreter: pyarrow's first table imports pandas, now before the first batch
    code = ("import sys; from streams.runtime import warm_up; before = 'pandas' in sys.modules; "
            "warm_up(); print(before, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.split() == ["False", "True"]
