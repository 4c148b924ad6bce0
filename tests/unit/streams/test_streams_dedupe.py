"""Exact and near-duplicate detection: which inputs are dropped, memory bounds."""

from __future__ import annotations

from devkit.sim.transactions import TransactionGenerator
from distillery.taskspec import TaskSpec
from streams.dedupe import Deduper, normalise


def test_normalise_masks_digits_and_spacing() -> None:
    assert normalise("  Starbucks   #1234\tSEATTLE ") == "starbucks #0 seattle"
    assert normalise("Total 45.10", mask_digits=False) == "total 45.10"


def test_exact_duplicates_ignore_case_spacing_and_store_numbers() -> None:
    d = Deduper(threshold=0.9, capacity=100)
    assert d.check_and_add("STARBUCKS #1234 SEATTLE WA") is None
    assert d.check_and_add("starbucks  #877 Seattle WA") == "exact"
    assert d.check_and_add("STARBUCKS #1234 PORTLAND OR") is None
    assert d.check_and_add("PEETS COFFEE #1234 SEATTLE WA") is None
    assert len(d) == 3


def test_near_duplicates() -> None:
    d = Deduper(threshold=0.9, capacity=100)
    assert d.check_and_add("SQ *BLUE BOTTLE COFFEE OAKLAND CA") is None
    # truncated by the card network: character 3-gram Jaccard 0.968
    assert d.check_and_add("SQ *BLUE BOTTLE COFFEE OAKLAND C") == "near"
    # same chain, another city: Jaccard 0.48
    assert d.check_and_add("SQ *BLUE BOTTLE COFFEE SAN FRANCISCO CA") is None


def test_probe_does_not_remember_and_add_does() -> None:
    d = Deduper(threshold=0.9, capacity=100)
    p = d.probe("NETFLIX.COM")
    assert p.duplicate is None and d.probe("NETFLIX.COM").duplicate is None
    d.add(p)
    assert d.probe("netflix.com").duplicate == "exact"


def test_threshold_one_checks_exact_only() -> None:
    d = Deduper(threshold=1.0, capacity=100)
    assert not d.near_enabled
    d.check_and_add("SQ *BLUE BOTTLE COFFEE OAKLAND CA")
    assert d.check_and_add("SQ *BLUE BOTTLE COFFEE OAKLAND C") is None


def test_extraction_tasks_keep_digits() -> None:
    schema = {"type": "object"}
    ext = Deduper.for_task(TaskSpec(name="x", kind="extraction", output_schema=schema))
    assert ext.check_and_add("INVOICE TOTAL 45.10 USD") is None
    assert ext.check_and_add("INVOICE TOTAL 99.10 USD") is None
    cls = Deduper.for_task(TaskSpec(name="c", kind="classification", labels=["a", "b"]))
    assert cls.check_and_add("INVOICE TOTAL 45.10 USD") is None
    assert cls.check_and_add("INVOICE TOTAL 99.10 USD") == "exact"


def test_capacity_evicts_oldest_first() -> None:
    d = Deduper(threshold=0.9, capacity=3, near_capacity=2)
    for text in ("KROGER AUSTIN TX", "SAFEWAY DENVER CO", "ALDI MIAMI FL", "PUBLIX ORLANDO FL"):
        assert d.check_and_add(text) is None
    assert len(d) == 3
    assert d.probe("KROGER AUSTIN TX").duplicate is None  # evicted, the oldest
    assert d.probe("SAFEWAY DENVER CO").duplicate == "exact"
    # near memory keeps only the 2 newest signatures
    assert d.probe("SAFEWAY DENVER C").duplicate is None
    assert d.probe("PUBLIX ORLANDO F").duplicate == "near"


def test_forget_lets_a_duplicate_through_again() -> None:
    d = Deduper(threshold=0.9, capacity=10)
    p = d.probe("UBER *TRIP HELP.UBER.COM")
    d.add(p)
    d.forget(p.key)
    assert d.check_and_add("UBER *TRIP HELP.UBER.COM") is None
    d.forget(b"never-seen")  # a no-op, not an error


def test_share_of_duplicates_in_a_generated_stream() -> None:
    d = Deduper(threshold=0.9, capacity=200_000)
    kinds = [d.check_and_add(t.text) for t in TransactionGenerator(seed=0).stream(2000)]
    assert (kinds.count(None), kinds.count("exact"), kinds.count("near")) == (1628, 364, 8)


def test_very_high_threshold_still_works() -> None:
    d = Deduper(threshold=0.99, capacity=10)
    d.check_and_add("SQ *BLUE BOTTLE COFFEE OAKLAND CA")
    assert d.check_and_add("SQ *BLUE BOTTLE COFFEE OAKLAND C") is None  # 0.968 < 0.99
