"""Which adapter serves: publishes, pins, unpins and rollbacks folded in order."""

from __future__ import annotations

from distillery.adapter_book import AdapterBook
from distillery.events import AdapterControl, AdapterPublished, AdapterRejected, GateMetrics, ModelScores

METRICS = GateMetrics(gold_size=10, candidate=ModelScores(n=10, accuracy=0.9))


def pub(adapter_id: str, task: str = "t") -> AdapterPublished:
    return AdapterPublished(task=task, adapter_id=adapter_id, job_id=f"job-{adapter_id}", uri=f"/a/{adapter_id}",
                            sha256="0" * 64, base_model="b", student_prompt="p", metrics=METRICS)


def ctl(action: str, adapter_id: str | None = None, task: str = "t") -> AdapterControl:
    return AdapterControl(task=task, action=action, adapter_id=adapter_id)  # type: ignore[arg-type]


def ids(book: AdapterBook, task: str = "t") -> list[str]:
    return [e.adapter_id for e in book.candidates(task)]


def test_newest_serves_and_older_ones_follow_in_order() -> None:
    book = AdapterBook()
    for r in (pub("a"), pub("b"), pub("c")):
        book.apply(r)
    assert ids(book) == ["c", "b", "a"]
    assert book.chosen("t") is not None and book.chosen("t").adapter_id == "c"  # type: ignore[union-attr]
    assert book.previous("t") is not None and book.previous("t").adapter_id == "b"  # type: ignore[union-attr]
    assert book.chosen("other") is None and book.previous("other") is None


def test_a_redelivered_adapter_is_not_appended_twice() -> None:
    book = AdapterBook()
    for r in (pub("a"), pub("b"), pub("a")):
        book.apply(r)
    assert ids(book) == ["b", "a"]


def test_rollback_pops_the_newest_but_never_the_last() -> None:
    book = AdapterBook()
    for r in (pub("a"), pub("b"), ctl("rollback"), ctl("rollback"), pub("c")):
        book.apply(r)
    assert ids(book) == ["c", "a"]
    assert book.state("t").rolled_back == ["b"]


def test_a_pin_wins_over_later_publishes_until_unpinned() -> None:
    book = AdapterBook()
    for r in (pub("a"), pub("b"), ctl("pin", "a"), pub("c")):
        book.apply(r)
    assert ids(book) == ["a", "c", "b"]
    book.apply(ctl("unpin"))
    assert ids(book) == ["c", "b", "a"]


def test_pins_of_unknown_or_foreign_adapters_are_ignored() -> None:
    book = AdapterBook()
    for r in (pub("a"), pub("x", task="other"), ctl("pin", "nope"), ctl("pin", "x")):
        book.apply(r)
    assert book.state("t").pinned is None and ids(book) == ["a"]


def test_rejections_are_kept_per_task() -> None:
    book = AdapterBook()
    book.apply(AdapterRejected(task="t", job_id="j9", reason="gate", failed_rules=["min_accuracy"]))
    assert [r.job_id for r in book.state("t").rejected] == ["j9"] and book.tasks() == ["t"]
    assert book.chosen("t") is None
