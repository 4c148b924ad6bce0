"""Topic names are spelled once, in :mod:`distillery.topics` (issue #16); each record names its topic from there."""

from __future__ import annotations

from distillery import topics
from distillery.events import RECORDS
from distillery.topics import Topics


def test_every_record_topic_is_one_of_the_contract_names_and_each_name_has_one_record() -> None:
    assert [r.topic_name for r in RECORDS] == [n for n in topics.NAMES if n != topics.COUNTERS]
    assert len(set(topics.NAMES)) == len(topics.NAMES) == 13


def test_all_lists_the_records_topics_in_record_order_then_the_counters() -> None:
    t = Topics("acme.")
    assert t.all() == [f"acme.{r.topic_name}" for r in RECORDS] + ["acme.ops.counters"]
    assert (t.published, t.control, t.pending) == ("acme.adapters.published", "acme.adapters.control",
                                                   "acme.distill.pending")
