"""Demo traffic: the simulated bank world's line items, as production answered them.

Rows for ``distillery replay --synthetic`` and the demo: each line item of
:class:`~devkit.sim.transactions.TransactionGenerator` with its true category and
the answer production's (simulated) frontier model gave it; the world drifts at
``drift_at``.

>>> rows = list(synthetic_rows(200, seed=1, drift_at=None, teacher_accuracy=0.9))
>>> rows[0]
Row(input='TST* NORTHSIDE TRATTORIA BOSTON MA', label='restaurants', output='fast_food')
>>> sum(r.label == r.output for r in rows)  # production is right on most, not all
174
"""

from __future__ import annotations

from collections.abc import Iterator

from distillery.replay import Row


def synthetic_rows(n: int, *, seed: int, drift_at: int | None, teacher_accuracy: float) -> Iterator[Row]:
    """Demo traffic: transaction lines answered in production by the (simulated) frontier model."""
    from devkit.sim.teacher_model import SimTeacher
    from devkit.sim.transactions import TransactionGenerator

    gen = TransactionGenerator(seed=seed)
    teacher = SimTeacher(accuracy=teacher_accuracy, seed=seed)
    for i in range(n):
        if drift_at is not None and i == drift_at:
            gen.set_drift(True)
        text, category = gen.sample()
        yield Row(text, category, teacher.answer(text).label)
