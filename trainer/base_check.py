"""Is the base model already good enough? Asked with as few of its slow answers as the evidence needs.

The base model has no head, so its zero-shot answers are scored by label
likelihood (every label's tokens after each input): on a task's first job that
is most of the judging, more than the candidate's own answers by far. The gate
asks one thing of those answers, whether the candidate beats them
(``must_beat_base``), so the base answers the gold set in chunks that double
(8 rows, then 16 more, 32, ...), in a fixed order (by a digest of each input),
and stops once a one-sided upper bound on its accuracy is below the
candidate's. The bound is Wilson's score interval at ``z = 4`` at every look:
the chance that a look wrongly stops is under ``3.2e-5``, and doubling chunks
keep the looks few (8 for a gold set of 2,000 rows, 14 for 100,000), so under
0.05% in all (sampling the gold set without replacement only tightens it).
When the two are close the base answers every row, as it always did. Its scores then stand on the rows it answered (their
``n`` says how many); answers are kept in the prediction cache, so later jobs
reuse them.

>>> round(wilson_upper(2, 16), 3)  # 2 of 16 right: at most about 61% with z = 4
0.612
>>> round(wilson_upper(16, 16), 3)
1.0
>>> order = digest_order(["b", "a", "c"]); sorted(order) == [0, 1, 2]
True
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence

from distillery.answers import same_answer
from trainer.gold import GoldRow
from trainer.predict import Prediction

Z_BOUND = 4.0
"""Standard deviations of the one-sided bound at every look."""
FIRST_CHUNK = 8
"""Gold rows the base answers before the first look; each later chunk doubles the rows answered."""


def wilson_upper(k: int, n: int, z: float = Z_BOUND) -> float:
    """Upper end of the Wilson score interval for ``k`` successes in ``n`` trials."""
    if n == 0:
        return 1.0
    p = k / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z2 / n))


def digest_order(texts: Sequence[str]) -> list[int]:
    """Row indices in the order of a digest of each text: fixed, and unrelated to how rows were added."""
    return sorted(range(len(texts)), key=lambda i: (hashlib.sha256(texts[i].encode("utf-8")).digest(), i))


def score_base_until_beaten(gold: Sequence[GoldRow], candidate_accuracy: float,
                            score: Callable[[list[str]], list[Prediction]], *, first: int = FIRST_CHUNK,
                            z: float = Z_BOUND) -> tuple[list[int], list[Prediction]]:
    """(gold row indices the base answered, its answers to them), stopping once it is clearly beaten.

    ``score(texts)`` gives the base's answers, one per text, in order.
    """
    order = digest_order([g.input for g in gold])
    done: list[int] = []
    answers: list[Prediction] = []
    right, start, chunk = 0, 0, first
    while start < len(order):
        rows = order[start : start + chunk]
        start, chunk = start + len(rows), start + len(rows)  # the next chunk doubles what was answered
        got = score([gold[i].input for i in rows])
        done.extend(rows)
        answers.extend(got)
        right += sum(same_answer(p.answer, gold[i].label) for p, i in zip(got, rows, strict=True))
        if wilson_upper(right, len(done), z) < candidate_accuracy:
            break
    return done, answers
