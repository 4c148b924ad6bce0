"""What the teacher gets wrong, as people found it: a noise matrix the loss looks through.

Distillation copies the teacher's mistakes, and a confident mistake never
reaches review as unsure: only audits find it. People's decisions give pairs
(the teacher's answer, the person's answer). From them this module estimates
``C[t][n]``, the chance that the teacher says ``n`` when the truth is ``t``,
and the head's loss on a *teacher* label ``n`` becomes ``-log (p @ C)[n]``
instead of ``-log p[n]`` (forward correction with trusted data: Hendrycks et
al., "Using Trusted Data to Train Deep Networks on Labels Corrupted by Severe
Noise", 2018). Where the teacher says ``medical_services`` for dental
clinics every time, ``C[dental][medical] = 1``: a teacher label of
``medical_services`` no longer says which of the two an input is, so the
people's labels decide it. Human labels are learnt as they are.

The estimate goes through the teacher's answer: reviewed items give
``P(truth | teacher said n)`` for each answer ``n`` people looked at, the
snapshot's teacher labels give how often the teacher says ``n``, and Bayes'
rule turns the two into ``P(teacher says n | truth)``. A confusion is kept
only once people corrected it ``min_corrections`` times (one slip of a
reviewer is not a pattern); answers nobody reviewed are taken as right.

>>> labels = ["dental_vision", "medical_services", "pharmacy"]
>>> reviewed = [("medical_services", "dental_vision")] * 4 + [("medical_services", "medical_services")] * 6
>>> reviewed += [("pharmacy", "pharmacy")] * 5 + [("pharmacy", "medical_services")]   # one slip: ignored
>>> noise = estimate(labels, reviewed, {"medical_services": 100, "pharmacy": 50}, min_corrections=3)
>>> [[round(x, 2) for x in row] for row in noise.matrix]
[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
>>> noise.corrected
{'dental_vision<-medical_services': 1.0}
>>> estimate(labels, reviewed[4:], {"medical_services": 100}, min_corrections=3).identity
True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TeacherNoise:
    """``matrix[t][n]``: the chance the teacher answers ``labels[n]`` when the truth is ``labels[t]``."""

    labels: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    corrected: dict[str, float] = field(default_factory=dict)
    """``"truth<-teacher"``: the chance the teacher gives that answer for that truth, for every kept confusion."""

    @property
    def identity(self) -> bool:
        """True when people found no confusion worth correcting (the loss is the plain one)."""
        return not self.corrected


def estimate(labels: Sequence[str], reviewed: Iterable[tuple[str, str]], teacher_counts: Mapping[str, int], *,
             min_corrections: int = 3) -> TeacherNoise:
    """The teacher's noise matrix from reviewed ``(teacher answer, person's answer)`` pairs.

    ``teacher_counts``: how often the teacher gave each answer among the
    training labels (the prior of its answers). Pairs off the label set are
    ignored.
    """
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    pairs = Counter((index[t], index[h]) for t, h in reviewed if t in index and h in index)
    seen = Counter[int]()
    for (said, _truth), n in pairs.items():
        seen[said] += n
    # P(truth | teacher said n), confusions below min_corrections folded back into "right"
    given: dict[int, list[float]] = {}
    for said, total in seen.items():
        row = [0.0] * k
        for truth in range(k):
            n = pairs.get((said, truth), 0)
            if truth != said and n < min_corrections:
                continue
            row[truth] = n
        row[said] += total - sum(row)
        given[said] = [x / total for x in row]
    joint = [[0.0] * k for _ in range(k)]  # joint[truth][said]
    for said in range(k):
        prior = float(teacher_counts.get(labels[said], 0))
        column = given.get(said)
        for truth in range(k):
            share = column[truth] if column is not None else float(truth == said)
            joint[truth][said] = share * prior
    matrix: list[tuple[float, ...]] = []
    corrected: dict[str, float] = {}
    for truth in range(k):
        mass = sum(joint[truth])
        says = [x / mass for x in joint[truth]] if mass > 0 else [float(n == truth) for n in range(k)]
        matrix.append(tuple(says))
        for said, p in enumerate(says):
            if said != truth and p > 0:
                corrected[f"{labels[truth]}<-{labels[said]}"] = round(p, 4)
    return TeacherNoise(tuple(labels), tuple(matrix), corrected)
