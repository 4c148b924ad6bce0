"""A model's confidence in a free-form answer, read from the token log-probabilities.

The geometric mean of the token probabilities (:func:`sequence_confidence`): the
joint probability of a long answer is tiny whether or not it is right, the mean
per token is not. The capture SDK sets ``InferenceEvent.confidence`` with it;
Distillery's teacher uses it for extraction and free text (and, for labels, the
chain-rule confidence in ``streams.teacher.confidence`` built on :class:`TokenChoice`).

>>> import math
>>> round(sequence_confidence([TokenChoice("{", math.log(0.5)), TokenChoice("}", math.log(0.5))]), 6)
0.5
>>> sequence_confidence([]) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenChoice:
    """One generated token, its log-probability and the top alternatives at its position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


def sequence_confidence(tokens: Sequence[TokenChoice]) -> float | None:
    """Geometric mean of the token probabilities; ``None`` without tokens."""
    if not tokens:
        return None
    return math.exp(sum(t.logprob for t in tokens) / len(tokens))
