"""The one bookkeeping of a teacher's answer (:mod:`streams.filing`), shared by the online and Batch API paths.

Before, the online path (``Pipeline._label``) and the Batch API reconciliation
(``_take_label`` and its online fallback) each wrote it out; the fallback
counted a teacher call twice. Now both call :meth:`Filing.teacher_answer`: an
event gets the same rows, counters and settlement whichever path it came by,
and only where its row lives differs (a new ``events`` row online, an updated
outcome for an event stored ``pending_batch``).
"""

from __future__ import annotations

from typing import Any

from distillery.counters import Counters
from distillery.events import InferenceEvent
from distillery.taskspec import TaskSpec
from streams.filing import Filing, TaskWork
from streams.sampling import Decision, Outcome
from streams.source import Source
from streams.store.db import EVENT_COLS, EXAMPLE_COLS, REVIEW_COLS
from streams.teacher.completions import TeacherResult
from streams.teacher.labeler import Labeled

SPEC = TaskSpec(name="transactions", kind="classification", labels=["coffee_shops", "fuel"])
EV = InferenceEvent(event_id="e1", task="transactions", input="SHELL OIL 12")
TEXT = "SHELL OIL 12"
SRC = Source("inference.events", 0, 7)
ANSWER = TeacherResult(text="Fuel", label="fuel", confidence=0.95, prompt_tokens=50, completion_tokens=3,
                       cost_usd=0.0001, model="gpt-4.1")
DECISION = Decision(outcome=Outcome.CALL_TEACHER, reason="sampled", task="transactions", event_id="e1")


class RecordingSampler:
    def __init__(self) -> None:
        self.settled: list[tuple[Any, ...]] = []

    def settle(self, decision: Decision, cost_usd: float, *, labeled: bool = True,
               prompt_tokens: int | None = None, completion_tokens: int | None = None) -> None:
        self.settled.append((decision.event_id, cost_usd, labeled, prompt_tokens, completion_tokens))


def _file(src: Source | None, got: Labeled, decision: Decision | None = DECISION
          ) -> tuple[str, TaskWork, Counters, RecordingSampler]:
    counters, sampler, work = Counters("streams", "w1"), RecordingSampler(), TaskWork()
    status = Filing(counters, sampler).teacher_answer(work, SPEC, EV, TEXT, src, decision, got)  # type: ignore[arg-type]
    return status, work, counters, sampler


def _counts(counters: Counters) -> dict[str, float]:
    return {k: counters.get("transactions", k) for k in ("teacher_calls", "spend_usd", "labeled", "review")}


def test_an_answer_is_filed_alike_online_and_from_a_batch() -> None:
    online = _file(SRC, Labeled(ANSWER))
    batch = _file(None, Labeled(ANSWER))
    label, source = EXAMPLE_COLS.index("label"), EXAMPLE_COLS.index("source")
    for status, work, counters, sampler in (online, batch):
        assert status == "labeled"
        assert [(r[label], r[source]) for r in work.batch.examples] == [("fuel", "teacher")]
        assert [r[:6] for r in work.batch.spend] == [("e1", 0.0001, 50, 3, False, "gpt-4.1")]
        assert [(r.event_id, r.label, r.cost_usd) for r in work.labeled] == [("e1", "fuel", 0.0001)]
        assert work.batch.review == [] and work.review == []
        assert _counts(counters) == {"teacher_calls": 1, "spend_usd": 0.0001, "labeled": 1, "review": 0}
        assert sampler.settled == [("e1", 0.0001, True, 50, 3)]
    outcome = EVENT_COLS.index("outcome")
    assert [r[outcome] for r in online[1].batch.events] == ["labeled"] and online[1].batch.resolved == {}
    assert batch[1].batch.events == [] and batch[1].batch.resolved == {"e1": "labeled"}


def test_a_refused_call_is_one_call_and_a_review_item_on_either_path() -> None:
    refused = Labeled(None, "teacher_error: HTTP 400")
    online = _file(SRC, refused)
    batch = _file(None, refused)
    reason, status_col = REVIEW_COLS.index("reason"), REVIEW_COLS.index("status")
    for status, work, counters, sampler in (online, batch):
        assert status == "review"
        assert [(r[reason], r[status_col]) for r in work.batch.review] == [("teacher_error: HTTP 400", "error")]
        assert [(r.event_id, r.reason) for r in work.review] == [("e1", "teacher_error: HTTP 400")]
        assert work.batch.examples == [] and work.batch.spend == []
        assert _counts(counters) == {"teacher_calls": 1, "spend_usd": 0, "labeled": 0, "review": 1}
        assert sampler.settled == [("e1", 0.0, False, None, None)]
    outcome = EVENT_COLS.index("outcome")
    assert [r[outcome] for r in online[1].batch.events] == ["review"]
    assert batch[1].batch.resolved == {"e1": "review"}


def test_a_batch_answer_whose_decision_is_gone_settles_nothing() -> None:
    status, work, counters, sampler = _file(None, Labeled(ANSWER), decision=None)
    assert (status, work.batch.resolved, sampler.settled) == ("labeled", {"e1": "labeled"}, [])
    assert _counts(counters)["teacher_calls"] == 1
