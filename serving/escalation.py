"""The escalation decision for one request (pure): student or teacher, and why.

In order, the first that applies:

* ``no_adapter``: nothing is served for the task yet;
* ``no_threshold``: the served adapter reached the routing target at no
  threshold on the gold set (``router_threshold`` is None): every request goes
  to the teacher;
* ``out_of_distribution``: with ``RoutingSpec.ood_escalates``, more than
  ``max_unseen`` of the input's words were never in the adapter's training
  data; its confidence was never calibrated on inputs like this one. While
  the task's latest drift alarm is newer than the serving adapter's training
  snapshot, the bound is ``RoutingSpec.max_unseen_during_drift`` instead
  (:func:`unseen_bound`):
  the traffic has changed since the student was judged, and a student that
  learned before the change answers its new kinds of input with a confidence
  nobody measured (the demo's student called new EV-charging merchants ``fuel``
  at 0.9); it answers only what looks like what it learned until an adapter
  trained after the alarm serves;
* ``confident`` when the student's confidence is at least the threshold
  (the same ``>=`` :func:`trainer.calibrate.calibrate_threshold` uses), else
  ``low_confidence``.

The first three are known before the student runs, so they cost no forward pass.

>>> pre_decision(has_adapter=True, threshold=0.7, unseen=0.2, ood_escalates=True, max_unseen=0.5) is None
True
>>> pre_decision(has_adapter=True, threshold=0.7, unseen=0.8, ood_escalates=True, max_unseen=0.5)
'out_of_distribution'
>>> confidence_decision(0.7, 0.7), confidence_decision(0.69, 0.7)
('confident', 'low_confidence')
"""

from __future__ import annotations

from typing import Literal

Reason = Literal["confident", "low_confidence", "out_of_distribution", "no_threshold", "no_adapter",
                 "teacher_failed"]
"""Why a request took its route; ``teacher_failed``: escalated, but the teacher failed and the student answered."""

DEFAULT_MAX_UNSEEN = 0.5
"""Above this share of never-seen words an input counts as out of distribution."""


def unseen_bound(usual: float, during_drift: float, drift_at_ms: int | None, adapter_at_ms: int) -> float:
    """The out-of-distribution bound for a request: ``during_drift`` while the task's latest alarm
    (``drift_at_ms``) is newer than the serving adapter (``adapter_at_ms``), else ``usual``.

    >>> unseen_bound(0.5, 0.0, None, 1_000), unseen_bound(0.5, 0.0, 2_000, 1_000), unseen_bound(0.5, 0.0, 500, 1_000)
    (0.5, 0.0, 0.5)
    """
    if drift_at_ms is not None and drift_at_ms > adapter_at_ms:
        return min(usual, during_drift)
    return usual


def pre_decision(*, has_adapter: bool, threshold: float | None, unseen: float | None, ood_escalates: bool,
                 max_unseen: float = DEFAULT_MAX_UNSEEN) -> Reason | None:
    """The escalation reason known before the student answers; None: ask the student."""
    if not has_adapter:
        return "no_adapter"
    if threshold is None:
        return "no_threshold"
    if ood_escalates and unseen is not None and unseen > max_unseen:
        return "out_of_distribution"
    return None


def confidence_decision(confidence: float, threshold: float) -> Reason:
    """``confident`` when the student clears the calibrated threshold, else ``low_confidence``."""
    return "confident" if confidence >= threshold else "low_confidence"
