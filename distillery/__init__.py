"""Distillery: continuous distillation from production traffic.

This small shared package holds what every worker imports: the event contract
(:mod:`distillery.events`), topic names, typed settings and task specs, the error
hierarchy, Kafka helpers and the ``distillery`` command line.

Importing it sets one process default before torch loads OpenMP: idle OpenMP
threads sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE``, unless the
environment already says otherwise). A worker shares its host's cores with other
workers; with spinning threads, a 2-core host running one other busy process
made a CPU training step of the student 17x slower (40 s against 2.4 s, measured
with the same batch), because each of torch's thousands of parallel regions a
step waits for a thread that the other process has descheduled.
"""

from __future__ import annotations

import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
