"""Deterministic uniform draws per event: the same event id always draws the same number.

The streams worker decides with them which events get a teacher label; the
report draws them again to know which of the student's answers were a uniform
audit, without a column for it. One rule, here, for both.

>>> draw("e-1", 0) == draw("e-1", 0), draw("e-1", 0) == draw("e-1", 1)
(True, False)
>>> draw("e-1", 0) == audit_draw("e-1", 0)
False
"""

from __future__ import annotations

import hashlib


def draw(event_id: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by the event id and the seed (the sampling rate's draw)."""
    digest = hashlib.blake2b(f"{seed}:{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def audit_draw(event_id: str, seed: int) -> float:
    """A second uniform number, independent of :func:`draw`: whether a student answer is audited."""
    digest = hashlib.blake2b(f"audit:{seed}:{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def is_student_audit(event_id: str, seed: int, rate: float) -> bool:
    """True when a student-answered event falls in the task's uniform audit share."""
    return rate > 0 and audit_draw(event_id, seed) < rate
