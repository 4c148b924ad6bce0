"""How torch's OpenMP threads wait: asleep on shared cores, spinning a moment on dedicated ones.

Imported first by the console (the process's entry point), before anything
loads torch: idle OpenMP threads sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE``,
unless the environment already says otherwise). A worker shares its host's cores
with other workers; with spinning threads, a 2-core host running one other busy
process made a CPU training step of the student 17x slower (40 s against 2.4 s,
measured with the same batch), because each of torch's thousands of parallel
regions a step waits for a thread that the other process has descheduled.

A serving replica with its cores to itself (``[serving] dedicated_cores``)
calls :func:`spin_threads` before torch loads and gets OpenMP's own default
back (threads spin a moment, then sleep): on the 2-core machine a lone forward
pass of the built-in student took 61 ms instead of 113.
"""

from __future__ import annotations

import os
import sys

FROM_ENVIRONMENT = "OMP_WAIT_POLICY" in os.environ
"""Whether the person set the policy; then no command changes it."""

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def spin_threads() -> str | None:
    """Drop the sleeping default for a process on cores of its own; None once done, else why not."""
    if FROM_ENVIRONMENT:
        return f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} is set in the environment, and kept"
    if "torch" in sys.modules:
        return "torch is already loaded, so its threads keep the policy they started with"
    os.environ.pop("OMP_WAIT_POLICY", None)
    return None
