"""The teacher's confidence in an answer, read from the token log-probabilities.

Classification (:func:`label_confidence`): the probability the model gave the
chosen *label*, by the chain rule over the answer's first tokens. At each token,
until the text so far names a single label, the step's probability is the mass of
all top-k alternatives consistent with the chosen label (``Coffee``, ``coffee`` and
`` coffee`` all count toward ``coffee_shops``); formatting-only tokens (quotes,
spaces) are skipped; once the label is determined the remaining tokens are taken
as given. The product is the confidence. With only the chosen token's logprob
(no ``top_logprobs``), it is the probability of the exact prefix, a lower bound.

Extraction and free text (:func:`sequence_confidence`, the capture SDK's
:mod:`distillery_capture.confidence`): the geometric mean of the token
probabilities, since the joint probability of a long JSON answer is tiny
whether or not it is right.

>>> from streams.teacher.labels import LabelSet
>>> labels = LabelSet(["coffee_shops", "restaurants", "fast_food"])
>>> toks = [TokenChoice("coffee", math.log(0.7), (("coffee", math.log(0.7)), ("Coffee", math.log(0.1)),
...                                             ("rest", math.log(0.2)))),
...         TokenChoice("_shops", 0.0)]
>>> round(label_confidence(toks, labels, "coffee_shops"), 6)
0.8
>>> round(sequence_confidence([TokenChoice("{", math.log(0.5)), TokenChoice("}", math.log(0.5))]), 6)
0.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# The token record and the free-text confidence are the capture SDK's (it sets an event's
# confidence with them); re-exported here beside the label confidence built on them.
from distillery_capture.confidence import TokenChoice, sequence_confidence  # noqa: F401 - re-exported
from streams.teacher.labels import LabelSet, normalise_label


def label_confidence(tokens: Sequence[TokenChoice], labels: LabelSet, chosen: str) -> float | None:
    """Probability of ``chosen`` (a canonical label) given the answer's tokens; ``None`` if unreadable."""
    if not tokens:
        return None
    target = normalise_label(chosen)
    prefix = ""
    logp = 0.0
    for tok in tokens:
        here = normalise_label(prefix + tok.token)
        if not here:  # quotes, spaces: no label information
            prefix += tok.token
            continue
        if not target.startswith(here):
            return None  # the answer does not spell the label (e.g. a preamble): no attribution
        alternatives = dict(tok.top)
        alternatives.setdefault(tok.token, tok.logprob)
        mass = 0.0
        for alt, lp in alternatives.items():
            cand = normalise_label(prefix + alt)
            if cand and target.startswith(cand):
                mass += math.exp(lp)
        logp += math.log(min(1.0, max(mass, 1e-300)))
        prefix += tok.token
        if len(labels.candidates(prefix)) <= 1:
            break
    return math.exp(logp)
