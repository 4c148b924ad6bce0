"""A seeded, balanced classification set drawn from the simulated bank world.

For the trainer's slow test and benchmarks: line items of a few categories from
the simulator's merchant table (:mod:`devkit.sim.merchants`, rendered by
:class:`devkit.sim.transactions.TransactionGenerator`: processor prefixes, store
numbers, cities, truncation), balanced across categories, as trainer
:class:`~trainer.data.Example` rows. The student has to learn a mapping it does
not already know, and the same seed always yields the same rows.

>>> rows = make_examples(6, seed=1)
>>> [r.label for r in rows] == [CATEGORIES[i % len(CATEGORIES)] for i in range(6)]
True
>>> make_examples(3, seed=1) == make_examples(3, seed=1)
True
"""

from __future__ import annotations

from collections.abc import Sequence

from devkit.sim.transactions import TransactionGenerator
from trainer.data import Example

CATEGORIES: tuple[str, ...] = (
    "coffee_shops", "fuel", "groceries", "streaming_services", "rideshare_taxi", "pharmacy",
)


def make_examples(n: int, *, seed: int, categories: Sequence[str] = CATEGORIES) -> list[Example]:
    """``n`` examples cycling through ``categories`` (balanced), deterministic in ``seed``."""
    world = TransactionGenerator(seed)
    rows = []
    for i in range(n):
        label = categories[i % len(categories)]
        rows.append(Example(event_id=f"syn-{seed}-{i}", input=world.sample_of(label).text, label=label,
                            category=label))
    return rows


def corrupt(examples: Sequence[Example], categories: Sequence[str] = CATEGORIES) -> list[Example]:
    """The same rows with every label shifted to the next category: a teacher gone wrong."""
    shift = {c: categories[(i + 1) % len(categories)] for i, c in enumerate(categories)}
    return [Example(e.event_id, e.input, shift[e.label], e.category) for e in examples]
