"""The SDK stands alone: importing it loads none of Distillery's workers or their heavy dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("sdk_alone.py")
FORBIDDEN = {"distillery", "streams", "trainer", "serving", "monitors",
             "torch", "transformers", "peft", "faust", "mode", "duckdb", "river", "numpy", "openai"}


def test_importing_the_sdk_loads_no_worker_and_no_heavy_dependency(tmp_path: Path) -> None:
    # a fresh interpreter, run from an empty folder so the repository's packages are not on sys.path
    done = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    packages = set(json.loads(done.stdout)["packages"])
    assert {"distillery_capture", "aiokafka", "pydantic"} <= packages
    assert packages & FORBIDDEN == set()
