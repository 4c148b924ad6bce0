"""Per-category regression against production, with paired evidence (pure).

The gate refuses a candidate that got worse than the serving adapter on some
category. Per category the gold set is small (a few to a few dozen rows), so a
point estimate alone mostly measures noise: one row flipped on a 19-row
category is a 5.3-point drop, and with forty categories nearly every
candidate, however much better overall, loses more than 5 points somewhere.

Both models answer the *same* gold rows, so the evidence is in the rows they
disagree on: ``lost`` (production right, candidate wrong) against ``won``
(the reverse). A category regresses when

* its accuracy fell by more than ``max_category_regression`` (the size of the
  drop the task cares about), and
* the drop is not chance: if each disagreement were a fair coin, ``lost`` or more
  of them going against the candidate would happen with probability at most
  ``1 - category_regression_confidence`` (a one-sided exact sign test, McNemar's
  exact test). A gold row is a draw from the category's traffic, so a repeated
  input counts as often as it was drawn.

At the default confidence 0.95 a category with no row won back needs five rows
lost; ``category_regression_confidence = 0`` keeps the bare point estimate.

>>> regression_p_value(lost=8, won=0)    # 13 of 14 right before, 5 of 14 now
0.00390625
>>> regression_p_value(lost=1, won=0)    # one flipped row
0.5
>>> gold = [GoldRow(f"x{i}", "a", "c") for i in range(19)]
>>> drops = category_drops(gold, [True] * 18 + [False], [True] * 19, margin=0.05, min_support=3)
>>> drops, regressed(drops, confidence=0.95), regressed(drops, confidence=0.0)
({'c': 0.5}, [], ['c'])
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from trainer.gold import GoldRow

EPS = 1e-9


def regression_p_value(*, lost: int, won: int) -> float:
    """One-sided exact sign test: the chance of ``lost`` or more losses among ``lost + won`` fair coin flips."""
    if lost < 0 or won < 0:
        raise ValueError(f"lost={lost}, won={won}: counts of rows, never negative")
    n = lost + won
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(lost, n + 1)) / 2**n  # exact: a count over a power of two


def category_drops(
    gold: Sequence[GoldRow],
    candidate_correct: Sequence[bool],
    production_correct: Sequence[bool],
    *,
    margin: float,
    min_support: int,
) -> dict[str, float]:
    """Categories with at least ``min_support`` rows whose accuracy fell by more than ``margin``, with p-values.

    ``*_correct``: per gold row, whether that side (student alone, or the routed
    system) was right; both sides must be of one kind.
    """
    if not len(candidate_correct) == len(production_correct) == len(gold):
        raise ValueError(f"{len(candidate_correct)} candidate and {len(production_correct)} production flags for "
                         f"{len(gold)} gold rows; one of each per row")
    rows: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(gold):
        rows[row.category].append(i)
    drops: dict[str, float] = {}
    for category, idx in sorted(rows.items()):
        if len(idx) < min_support:
            continue
        mine = sum(candidate_correct[i] for i in idx) / len(idx)
        theirs = sum(production_correct[i] for i in idx) / len(idx)
        if mine < theirs - margin - EPS:
            lost = sum(production_correct[i] and not candidate_correct[i] for i in idx)
            won = sum(candidate_correct[i] and not production_correct[i] for i in idx)
            drops[category] = regression_p_value(lost=lost, won=won)
    return drops


def regressed(drops: Mapping[str, float], *, confidence: float) -> list[str]:
    """The drops the evidence bears out at ``confidence`` (every drop when it is 0)."""
    return sorted(c for c, p in drops.items() if p <= 1.0 - confidence + EPS)
