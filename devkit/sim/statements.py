"""A seeded, balanced classification set drawn from the simulated bank world's merchants.

For the trainer's slow test and benchmarks: statement lines of a few categories,
each a national merchant of the simulator's table (:mod:`devkit.sim.merchants`)
with the noise real card statements carry (processor prefixes, store numbers,
cities, truncation), balanced across categories, as trainer
:class:`~trainer.data.Example` rows. Plainer than the simulator's own stream
(:class:`devkit.sim.transactions.TransactionGenerator`, which adds local
merchants, reference codes and bank prefixes): a short training run has to learn
a mapping it does not already know, and the same seed always yields the same rows.

>>> rows = make_examples(6, seed=1)
>>> [r.label for r in rows] == [CATEGORIES[i % len(CATEGORIES)] for i in range(6)]
True
>>> make_examples(3, seed=1) == make_examples(3, seed=1)
True
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from devkit.sim.merchants import CATEGORIES as WORLD
from trainer.data import Example

CATEGORIES: tuple[str, ...] = (
    "coffee_shops", "fuel", "groceries", "streaming_services", "rideshare_taxi", "pharmacy",
)
MERCHANTS: dict[str, tuple[str, ...]] = {
    c.name: tuple(m for m in c.brands + c.online if "{" not in m) for c in WORLD
}
PREFIXES = ("", "", "SQ *", "TST* ", "PAYPAL *", "POS ", "DEBIT ")
CITIES = ("SEATTLE WA", "OAKLAND CA", "AUSTIN TX", "BROOKLYN NY", "DENVER CO", "MIAMI FL", "")


def transaction(merchant: str, rng: random.Random) -> str:
    """One noisy statement line for ``merchant``."""
    text = f"{rng.choice(PREFIXES)}{merchant} #{rng.randint(10, 9999)} {rng.choice(CITIES)}".strip()
    if rng.random() < 0.2:
        text = text[: max(len(merchant), len(text) - rng.randint(1, 6))]
    return text


def make_examples(n: int, *, seed: int, categories: Sequence[str] = CATEGORIES) -> list[Example]:
    """``n`` examples cycling through ``categories`` (balanced), deterministic in ``seed``."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = categories[i % len(categories)]
        text = transaction(rng.choice(MERCHANTS[label]), rng)
        rows.append(Example(event_id=f"syn-{seed}-{i}", input=text, label=label, category=label))
    return rows


def corrupt(examples: Sequence[Example], categories: Sequence[str] = CATEGORIES) -> list[Example]:
    """The same rows with every label shifted to the next category: a teacher gone wrong."""
    shift = {c: categories[(i + 1) % len(categories)] for i, c in enumerate(categories)}
    return [Example(e.event_id, e.input, shift[e.label], e.category) for e in examples]
