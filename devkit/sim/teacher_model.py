"""Simulated frontier teachers: good, calibrated, not perfect.

:class:`SimTeacher` knows the transactions task; :class:`ReplayTeacher` answers
any other classification task (a team's replayed log) from the rows' own labels.

For each input it first finds the true category: from the ground truth it was
loaded with (replayed data), else from its merchant knowledge
(:class:`~devkit.sim.knowledge.MerchantIndex`), else it guesses with low
confidence. Then it answers like a real model would:

* a confidence ``c`` is drawn from ``Beta(k*accuracy, k*(1-accuracy))`` and the
  answer is right with probability ``c``: calibrated by construction, and right
  ``accuracy`` of the time on average;
* a wrong answer goes to a confusable category (coffee_shops <-> restaurants,
  fuel <-> ev_charging, ...);
* one blind-spot category is answered wrongly and confidently every time
  (by default dental_vision -> medical_services).

Answers are deterministic per (seed, input), like a temperature-0 model.

>>> t = SimTeacher(seed=0)
>>> a = t.answer("STARBUCKS #1234 SEATTLE WA")
>>> a == t.answer("STARBUCKS #1234 SEATTLE WA"), a.truth, a.source
(True, 'coffee_shops', 'knowledge')
>>> t.answer("ASPEN DENTAL #12 AUSTIN TX").label
'medical_services'
>>> r = ReplayTeacher(["refund", "billing", "other"], {"where is my money back": "refund"}, seed=0)
>>> r.answer("Where is my money back").truth, r.answer("something new").source
('refund', 'guess')
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from devkit.sim.knowledge import MerchantIndex
from devkit.sim.transactions import CATEGORY_NAMES

CONFUSABLE: dict[str, tuple[str, ...]] = {
    "groceries": ("department_stores", "pharmacy"),
    "restaurants": ("fast_food", "coffee_shops", "bars_nightlife"),
    "coffee_shops": ("restaurants", "fast_food"),
    "fast_food": ("restaurants", "food_delivery"),
    "bars_nightlife": ("restaurants", "entertainment_events"),
    "food_delivery": ("restaurants", "fast_food"),
    "fuel": ("ev_charging", "auto_maintenance"),
    "public_transit": ("rideshare_taxi", "parking_tolls"),
    "rideshare_taxi": ("public_transit", "food_delivery"),
    "parking_tolls": ("public_transit", "auto_maintenance"),
    "auto_maintenance": ("fuel", "car_rental"),
    "airlines": ("hotels_lodging", "car_rental"),
    "hotels_lodging": ("airlines", "rent_mortgage"),
    "car_rental": ("auto_maintenance", "airlines"),
    "electronics": ("online_marketplace", "department_stores"),
    "clothing_apparel": ("department_stores", "online_marketplace"),
    "home_improvement": ("department_stores",),
    "department_stores": ("groceries", "clothing_apparel"),
    "online_marketplace": ("department_stores", "electronics"),
    "books_media": ("online_marketplace", "streaming_services"),
    "sporting_goods": ("clothing_apparel", "fitness_gyms"),
    "pharmacy": ("medical_services", "groceries"),
    "medical_services": ("pharmacy", "dental_vision"),
    "dental_vision": ("medical_services",),
    "fitness_gyms": ("sporting_goods", "personal_care"),
    "personal_care": ("pharmacy", "fitness_gyms"),
    "streaming_services": ("software_subscriptions", "internet_cable"),
    "software_subscriptions": ("streaming_services", "gaming"),
    "mobile_phone": ("internet_cable", "utilities_power"),
    "internet_cable": ("mobile_phone", "streaming_services"),
    "utilities_power": ("internet_cable", "rent_mortgage"),
    "insurance": ("auto_maintenance", "medical_services"),
    "rent_mortgage": ("transfers_p2p", "utilities_power"),
    "education_tuition": ("childcare", "books_media"),
    "childcare": ("education_tuition",),
    "pet_care": ("medical_services", "groceries"),
    "charity_donations": ("transfers_p2p",),
    "gaming": ("software_subscriptions", "entertainment_events"),
    "entertainment_events": ("bars_nightlife", "gaming"),
    "cash_atm": ("bank_fees", "transfers_p2p"),
    "bank_fees": ("cash_atm",),
    "transfers_p2p": ("bank_fees", "charity_donations"),
    "ev_charging": ("fuel", "utilities_power"),
}
"""Where each category's mistakes go (the first is the most likely)."""

Source = Literal["ground_truth", "knowledge", "guess"]


@dataclass(frozen=True)
class SimAnswer:
    """The teacher's answer, its confidence, and the runner-up labels with their probability."""

    label: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...]
    truth: str | None
    source: Source

    @property
    def correct(self) -> bool:
        return self.label == self.truth


class Teacher(Protocol):
    """What the simulated server asks of a teacher: its label set, known truths, and answers."""

    labels: tuple[str, ...]
    truth: dict[str, str]
    accuracy: float
    seed: int

    def answer(self, text: str) -> SimAnswer: ...


def _draw(seed: int, text: str) -> random.Random:
    return random.Random(hashlib.blake2b(f"{seed}|{text}".encode(), digest_size=8).digest())


def normalise_input(text: str) -> str:
    """The form inputs are matched in: whitespace collapsed, case folded.

    >>> normalise_input("  Opaque   MERCHANT 77 ")
    'opaque merchant 77'
    """
    return " ".join(text.split()).casefold()


class SimTeacher:
    """Labels transaction lines like a strong, calibrated model with one blind spot."""

    def __init__(
        self,
        *,
        accuracy: float = 0.95,
        seed: int = 0,
        blind_spot: tuple[str, str] | None = ("dental_vision", "medical_services"),
        ground_truth: Mapping[str, str] | None = None,
        concentration: float = 8.0,
        labels: tuple[str, ...] = CATEGORY_NAMES,
    ) -> None:
        if not 0.0 < accuracy < 1.0:
            raise ValueError(f"accuracy: {accuracy!r} must be strictly between 0 and 1, e.g. 0.95")
        self.accuracy = accuracy
        self.seed = seed
        self.blind_spot = blind_spot
        self.concentration = concentration
        self.labels = labels
        self.index = MerchantIndex.default()
        self.truth: dict[str, str] = {}
        self.load(ground_truth or {})

    def load(self, ground_truth: Mapping[str, str]) -> None:
        """Add ``input -> true label`` pairs (matched on the whitespace-normalised input)."""
        for text, label in ground_truth.items():
            self.truth[self._key(text)] = label

    def answer(self, text: str) -> SimAnswer:
        """The answer for ``text``, the same every time it is asked."""
        rng = _draw(self.seed, text)
        truth = self.truth.get(self._key(text))
        source: Source = "ground_truth"
        if truth is None:
            truth, source = self.index.lookup(text), "knowledge"
        if truth is None:
            guess = rng.choice(self.labels)
            conf = rng.uniform(0.2, 0.45)
            return SimAnswer(guess, conf, self._spread(guess, 1.0 - conf, None), None, "guess")
        if self.blind_spot is not None and truth == self.blind_spot[0]:
            conf = rng.uniform(0.88, 0.98)
            wrong = self.blind_spot[1]
            return SimAnswer(wrong, conf, self._spread(wrong, 1.0 - conf, truth), truth, source)
        k = self.concentration
        conf = min(0.999, max(0.05, rng.betavariate(k * self.accuracy, k * (1.0 - self.accuracy))))
        if rng.random() < conf:
            label = truth
        else:
            options = [c for c in CONFUSABLE.get(truth, ()) if c in self.labels] or [
                c for c in self.labels if c != truth
            ]
            label = options[0] if rng.random() < 0.7 else rng.choice(options)
        return SimAnswer(label, conf, self._spread(label, 1.0 - conf, truth), truth, source)

    def _spread(self, label: str, rest: float, truth: str | None) -> tuple[tuple[str, float], ...]:
        # The remaining probability goes to the truth (when the answer is wrong) and the confusables.
        others = [truth] if truth and truth != label else []
        others += [c for c in CONFUSABLE.get(label, ()) if c not in others and c != label]
        others = others[:4]
        if not others:
            return ()
        first = rest * (0.7 if len(others) > 1 else 1.0)
        tail = (rest - first) / (len(others) - 1) if len(others) > 1 else 0.0
        return tuple((c, first if i == 0 else tail) for i, c in enumerate(others))

    @staticmethod
    def _key(text: str) -> str:
        return normalise_input(text)


class ReplayTeacher:
    """Labels any classification task from ground truth: the teacher of a replayed log.

    It knows nothing of the domain: the true label of an input is the one its row
    carried (``ground_truth``, matched on the normalised input). Like
    :class:`SimTeacher`, a confidence ``c`` is drawn from
    ``Beta(k*accuracy, k*(1-accuracy))`` and the answer is right with probability
    ``c``; a wrong answer is another label of the task, drawn at random. An input
    without a known label (or whose label is not in ``labels``) gets a guess at
    low confidence. Every answer is one of ``labels``, deterministic per
    (seed, input).
    """

    def __init__(
        self,
        labels: Sequence[str],
        ground_truth: Mapping[str, str] | None = None,
        *,
        accuracy: float = 0.95,
        seed: int = 0,
        concentration: float = 8.0,
    ) -> None:
        if not 0.0 < accuracy < 1.0:
            raise ValueError(f"accuracy: {accuracy!r} must be strictly between 0 and 1, e.g. 0.95")
        if len(set(labels)) < 2:
            raise ValueError(f"labels: a classification teacher needs at least two labels, got {list(labels)!r}")
        self.labels = tuple(dict.fromkeys(labels))
        self.accuracy = accuracy
        self.seed = seed
        self.concentration = concentration
        self.truth: dict[str, str] = {}
        self.load(ground_truth or {})

    def load(self, ground_truth: Mapping[str, str]) -> None:
        """Add ``input -> true label`` pairs (matched on the whitespace-normalised input)."""
        for text, label in ground_truth.items():
            self.truth[normalise_input(text)] = label

    def answer(self, text: str) -> SimAnswer:
        """The answer for ``text``, the same every time it is asked; always one of ``labels``."""
        rng = _draw(self.seed, text)
        truth = self.truth.get(normalise_input(text))
        if truth is None or truth not in self.labels:
            guess = rng.choice(self.labels)
            conf = rng.uniform(0.2, 0.45)
            return SimAnswer(guess, conf, self._spread(rng, guess, 1.0 - conf, None), None, "guess")
        k = self.concentration
        conf = min(0.999, max(0.05, rng.betavariate(k * self.accuracy, k * (1.0 - self.accuracy))))
        label = truth if rng.random() < conf else rng.choice([c for c in self.labels if c != truth])
        return SimAnswer(label, conf, self._spread(rng, label, 1.0 - conf, truth), truth, "ground_truth")

    def _spread(self, rng: random.Random, label: str, rest: float,
                truth: str | None) -> tuple[tuple[str, float], ...]:
        # the rest goes to the truth (when the answer is wrong), then to up to three other labels
        others = [truth] if truth and truth != label else []
        pool = [c for c in self.labels if c != label and c not in others]
        others += rng.sample(pool, min(4 - len(others), len(pool)))
        first = rest * (0.7 if len(others) > 1 else 1.0)
        tail = (rest - first) / (len(others) - 1) if len(others) > 1 else 0.0
        return tuple((c, first if i == 0 else tail) for i, c in enumerate(others))
