"""A serving replica on cores of its own lets torch's threads spin; every other command keeps them sleeping."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import os, sys
{before}
import console
from console.threads import spin_threads
print(repr(spin_threads()), os.environ.get("OMP_WAIT_POLICY"), sep="|")
"""


def _run(before: str = "", **env: str) -> tuple[str, str]:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    out = subprocess.run([sys.executable, "-c", PROBE.format(before=before)], env=clean, capture_output=True,
                         text=True, check=True, timeout=120).stdout.strip().splitlines()[-1]
    why, policy = out.split("|")
    return why, policy


def test_the_console_defaults_to_sleeping_threads_and_a_dedicated_replica_drops_that() -> None:
    assert _run() == ("None", "None")  # OpenMP's own default from here on: spin a moment, then sleep


def test_a_policy_the_person_set_is_kept() -> None:
    why, policy = _run(OMP_WAIT_POLICY="PASSIVE")
    assert policy == "PASSIVE" and "is set in the environment, and kept" in why


def test_too_late_once_torch_is_loaded() -> None:
    why, policy = _run("import torch")
    assert policy == "PASSIVE" and "torch is already loaded" in why
