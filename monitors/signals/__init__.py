"""Drift signals: one quantity each, each wrapping one river detector.

Input shape (``input_length``, ``digit_share``/``upper_share``/``punct_share``,
``unseen_token_share``), answer mix (``category_mix``, and ``new_category`` for
a category the reference lacks taking a real share), the answering model's
``confidence``, and on labeled events ``agreement``, ``teacher_rejection``
and ``dead_letter``. All share :class:`~monitors.signals.base.Signal`'s
interface: ``update(x) -> bool``, ``drift_detected``, ``estimate``, ``name``,
``detector_name``, ``events_seen`` and ``last_change``.
"""

from __future__ import annotations

from monitors.signals.agreement import Agreement
from monitors.signals.base import AdwinSignal, Change, Signal
from monitors.signals.category_mix import CategoryMix
from monitors.signals.char_mix import CHAR_CLASSES, CharClassShare, char_class_shares
from monitors.signals.confidence import Confidence
from monitors.signals.dead_letter import DeadLetterRate
from monitors.signals.input_length import InputLength, input_length
from monitors.signals.new_category import NewCategory
from monitors.signals.teacher_rejection import TeacherRejection
from monitors.signals.unseen_tokens import UnseenTokenShare, tokens, vocabulary_of

__all__ = [
    "CHAR_CLASSES",
    "AdwinSignal",
    "Agreement",
    "CategoryMix",
    "Change",
    "CharClassShare",
    "Confidence",
    "DeadLetterRate",
    "InputLength",
    "NewCategory",
    "Signal",
    "TeacherRejection",
    "UnseenTokenShare",
    "char_class_shares",
    "input_length",
    "tokens",
    "vocabulary_of",
]
