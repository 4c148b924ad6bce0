"""The synthetic transaction generator: categories, determinism, long tail, drift."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from devkit.sim.knowledge import MerchantIndex
from devkit.sim.transactions import CATEGORY_NAMES, TransactionGenerator
from distillery.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]


def test_categories_are_the_demo_task_labels_in_order() -> None:
    assert list(CATEGORY_NAMES) == load_settings(ROOT / "distillery.toml", env={}).task("transactions").labels


def test_seeded_and_deterministic() -> None:
    a = list(TransactionGenerator(seed=42).stream(500))
    b = list(TransactionGenerator(seed=42).stream(500))
    c = list(TransactionGenerator(seed=43).stream(500))
    assert a == b and a != c
    text, category = a[0]
    assert (text, category) == tuple(a[0])


def test_first_lines_of_seed_zero() -> None:
    assert [tuple(t) for t in TransactionGenerator(seed=0).stream(5)] == [
        ("COX COMM", "internet_cable"),
        ("VENMO *M RODRIGUEZ", "transfers_p2p"),
        ("Pg&E Web Online", "utilities_power"),
        ("LUCKY LIMO LOS ANGELES CA", "rideshare_taxi"),
        ("SQ *SEVEN HILLS TAXI NEW YORK NY", "rideshare_taxi"),
    ]


def test_long_tailed_frequencies() -> None:
    counts = Counter(t.category for t in TransactionGenerator(seed=1).stream(20_000))
    top = [c for c, _ in counts.most_common(3)]
    assert top == ["groceries", "restaurants", "fast_food"]
    assert counts["groceries"] > 2000
    assert counts["ev_charging"] < 20 and counts["education_tuition"] < 60
    assert set(counts) <= set(CATEGORY_NAMES) and len(counts) >= 42


def test_realistic_noise() -> None:
    lines = [t.text for t in TransactionGenerator(seed=2).stream(5000)]
    assert sum(bool(re.search(r"#\d{4}", x)) for x in lines) > 500  # store numbers
    assert sum(x.startswith(("SQ *", "TST* ")) for x in lines) > 100  # processor prefixes
    assert sum("PAYPAL *" in x for x in lines) > 20
    assert sum(x.startswith("POS DEBIT ") for x in lines) > 50
    assert sum("  " in x for x in lines) > 50  # doubled spaces
    assert sum(x != x.upper() for x in lines) > 50  # odd casing


def test_drift_makes_ev_charging_common_and_brings_new_merchants() -> None:
    before = list(TransactionGenerator(seed=3).stream(10_000))
    gen = TransactionGenerator(seed=3)
    gen.set_drift(True)
    after = list(gen.stream(10_000))
    share = lambda rows, c: sum(t.category == c for t in rows) / len(rows)  # noqa: E731
    assert share(before, "ev_charging") < 0.001 and share(after, "ev_charging") > 0.05
    assert gen.frequencies()["ev_charging"] > 0.05
    new = ("BLINK CHARGING", "EV CONNECT", "SHELL RECHARGE", "WONDER DELIVERY", "KLARNA* ", "AFTERPAY* ")
    assert not any(n in t.text for t in before for n in new)
    assert all(any(n in t.text for t in after) for n in new)


def test_the_merchant_catalogue_explains_almost_every_line() -> None:
    idx = MerchantIndex.default()
    for drifted in (False, True):
        rows = list(TransactionGenerator(seed=4, drifted=drifted).stream(3000))
        known = sum(idx.lookup(t.text) == t.category for t in rows) / len(rows)
        assert known > 0.99
