"""Synthetic bank transaction line items for the demo task, seeded and deterministic.

Lines look like what card statements print: chains with store numbers and a
city (``WALGREENS #4521 AUSTIN TX``), online descriptors with reference codes
(``AMZN MKTP US*2K4LJ3ZX0``), independents behind a processor prefix
(``SQ *BLUE DOOR COFFEE SEATTLE WA``, ``TST* HARBOR GRILL``), bank prefixes
(``POS DEBIT``, ``CHECKCARD 0115``), the 22-25 character truncation of the
merchant field, and noise (double spaces, odd casing, card last-four).

``drifted=True`` (or :meth:`TransactionGenerator.set_drift`) moves the world:
EV charging goes from all but absent to common, new merchants appear (new
charging networks, delivery apps) and new wallets/pay-later prefixes show up.

>>> gen = TransactionGenerator(seed=7)
>>> [t.category for t in gen.stream(3)] == [t.category for t in TransactionGenerator(seed=7).stream(3)]
True
>>> text, category = TransactionGenerator(seed=1).sample()
>>> category in CATEGORY_NAMES
True
"""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Iterator
from typing import NamedTuple

from devkit.sim.merchants import CATEGORIES, CITIES, DRIFT_PREFIXES, LOCAL_WORDS, PEOPLE, Category

CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
BANK_PREFIXES: tuple[str, ...] = ("POS DEBIT ", "CHECKCARD {mmdd} ", "PURCHASE AUTHORIZED ON {mm}/{dd} ",
                                  "DEBIT CARD PURCHASE ")
ONLINE_PREFIXES: tuple[str, ...] = ("RECURRING PAYMENT ", "ACH DEBIT ", "ONLINE PMT ")
_ALNUM = string.ascii_uppercase + string.digits


class Transaction(NamedTuple):
    """One line item and its true category."""

    text: str
    category: str


class TransactionGenerator:
    """An endless, seeded stream of (line item, true category)."""

    def __init__(
        self,
        seed: int = 0,
        *,
        drifted: bool = False,
        truncate_rate: float = 0.25,
        noise_rate: float = 0.15,
        bank_prefix_rate: float = 0.15,
    ) -> None:
        self.rng = random.Random(seed)
        self.truncate_rate = truncate_rate
        self.noise_rate = noise_rate
        self.bank_prefix_rate = bank_prefix_rate
        self.drifted = False
        self._cum: list[float] = []
        self.set_drift(drifted)

    def set_drift(self, drifted: bool) -> None:
        """Switch the world to (or back from) its drifted state."""
        self.drifted = drifted
        self._cum = list(itertools.accumulate(c.weight_at(drifted) for c in CATEGORIES))

    def frequencies(self) -> dict[str, float]:
        """Each category's expected share of lines in the current state."""
        total = self._cum[-1]
        weights = [c.weight_at(self.drifted) for c in CATEGORIES]
        return {c.name: w / total for c, w in zip(CATEGORIES, weights, strict=True)}

    def sample(self) -> Transaction:
        cat = self.rng.choices(CATEGORIES, cum_weights=self._cum)[0]
        return Transaction(self._render(cat), cat.name)

    def sample_of(self, category: str) -> Transaction:
        """A line item of one category (a probe of it), in the current state of the world."""
        for cat in CATEGORIES:
            if cat.name == category:
                return Transaction(self._render(cat), cat.name)
        raise ValueError(f"category: {category!r} is not one of the generator's {len(CATEGORIES)} categories")

    def stream(self, n: int) -> Iterator[Transaction]:
        for _ in range(n):
            yield self.sample()

    def __iter__(self) -> Iterator[Transaction]:
        while True:
            yield self.sample()

    # ------------------------------------------------------------------ render
    def _render(self, cat: Category) -> str:
        rng = self.rng
        brands = cat.brands + (cat.drift_brands if self.drifted else ())
        online = cat.online + (cat.drift_online if self.drifted else ())
        if self.drifted and (cat.drift_brands or cat.drift_online) and rng.random() < 0.5:
            brands, online = cat.drift_brands, cat.drift_online  # the new merchants dominate
        kinds = [(k, w) for k, w, pool in (("brand", 5, brands), ("online", 3, online), ("local", 2, cat.local))
                 if pool]
        kind = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        if kind == "brand":
            line = self._store_line(rng.choice(brands))
        elif kind == "online":
            line = self._fill(rng.choice(online))
        else:
            prefix = rng.choice(cat.prefixes)
            if self.drifted and rng.random() < 0.3:
                prefix = rng.choice(DRIFT_PREFIXES)
            name = f"{prefix}{rng.choice(LOCAL_WORDS)} {rng.choice(cat.local)}"
            line = f"{self._truncate(name)} {self._city()}"
        if rng.random() < self.bank_prefix_rate:
            line = self._fill(rng.choice(ONLINE_PREFIXES if kind == "online" else BANK_PREFIXES)) + line
        return self._noise(line)

    def _store_line(self, brand: str) -> str:
        rng = self.rng
        style = rng.random()
        if style < 0.45:
            name = f"{brand} #{rng.randint(1, 9999):04d}"
        elif style < 0.75:
            name = f"{brand} {rng.randint(1, 99999):05d}"
        else:
            name = brand
        if self.drifted and rng.random() < 0.15:
            name = rng.choice(DRIFT_PREFIXES) + name
        return f"{self._truncate(name)} {self._city()}"

    def _truncate(self, name: str) -> str:
        # Card networks print 22-25 characters of the merchant name.
        if self.rng.random() < self.truncate_rate:
            return name[: self.rng.randint(22, 25)].rstrip()
        return name

    def _city(self) -> str:
        city, state = self.rng.choice(CITIES)
        return f"{city} {state}"

    def _fill(self, template: str) -> str:
        rng = self.rng
        mm, dd = rng.randint(1, 12), rng.randint(1, 28)
        return template.format(
            ref="".join(rng.choice(_ALNUM) for _ in range(rng.randint(6, 10))),
            name=rng.choice(LOCAL_WORDS),
            person=rng.choice(PEOPLE),
            city=self.rng.choice(CITIES)[0],
            day=rng.choice(("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")),
            mmdd=f"{mm:02d}{dd:02d}",
            mm=f"{mm:02d}",
            dd=f"{dd:02d}",
        )

    def _noise(self, line: str) -> str:
        rng = self.rng
        if rng.random() >= self.noise_rate:
            return line
        pick = rng.random()
        if pick < 0.3:
            return line.replace(" ", "  ", 1)
        if pick < 0.5:
            return line.title()
        if pick < 0.75:
            return f"{line} CARD {rng.randint(0, 9999):04d}"
        return f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d} {line}"
