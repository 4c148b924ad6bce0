"""A row of the frozen gold set, as every judge of an adapter reads it.

The gold set is the task's own ground truth, frozen per category: the gate
(:mod:`trainer.gate`), the routed-system scores (:mod:`trainer.routed`) and the
base-model check (:mod:`trainer.base_check`) all score contenders on these rows.
``teacher`` is the teacher's answer pinned when the row joined the set, so the
teacher is judged on the same inputs without a second call.

>>> row = GoldRow("SHELL OIL #12", "fuel", "fuel", teacher="Fuel")
>>> row.category, row.teacher
('fuel', 'Fuel')
"""

from __future__ import annotations

from dataclasses import dataclass

from distillery.answers import Answer


@dataclass(frozen=True)
class GoldRow:
    """One frozen gold example: the ground truth, its category and the teacher's pinned answer."""

    input: str
    label: Answer
    category: str
    teacher: Answer | None = None
