"""Every stored and published copy of user text is redacted, and no error carries a credential (issue #13).

Before: only the input was redacted. The production output went into the
``events`` table as it came, the raw event kept for Batch API labeling held the
unredacted input, and a teacher's 401 message (which names part of the key it
refused) was copied into review items.
"""

from __future__ import annotations

from pathlib import Path

from hostile_support import FakeTeacher, dump_store, settings_for

from distillery.counters import Counters
from distillery.errors import TeacherError
from distillery.events import InferenceEvent
from streams.pipeline import Pipeline
from streams.source import Source

PII = ("jane.doe@mail.com", "206-555-0199", "GB82 WEST 1234 5698 7654 32", "sk-proj-", "abcd")


class KeyRefusingTeacher(FakeTeacher):
    async def label(self, text: str):  # type: ignore[no-untyped-def]
        if "REFUSE" in text:
            self.calls += 1
            raise TeacherError("Error code: 401 - {'error': {'message': 'Incorrect API key provided: "
                               "sk-proj-****abcd. You can find your API key at ...'}}")
        return await super().label(text)


def _events() -> list[InferenceEvent]:
    return [
        InferenceEvent(event_id="ev-0", task="transactions", input="ZELLE TO jane.doe@mail.com GROCERY",
                       output="groceries 206-555-0199", ts=1_780_000_000_000),
        InferenceEvent(event_id="ev-1", task="transactions",
                       input=[{"role": "user", "content": "SEPA GB82 WEST 1234 5698 7654 32 RENT"}],
                       output={"payee": "jane.doe@mail.com"}, ts=1_780_000_000_001),
        InferenceEvent(event_id="ev-2", task="transactions", input="REFUSE ME jane.doe@mail.com",
                       ts=1_780_000_000_002),
    ]


async def _run(tmp_path: Path, *, batch: bool) -> tuple[Pipeline, str, str]:
    settings = settings_for(tmp_path, batch=batch)
    teacher = KeyRefusingTeacher(list(settings.task("transactions").labels))
    pipeline = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        raws = [(e.to_json(), b"transactions", Source("inference.events", 0, i)) for i, e in enumerate(_events())]
        out = await pipeline.process(raws)
        published = "\n".join(r.to_json().decode() for r in [*out.labeled, *out.review])
    finally:
        await pipeline.close()
    return pipeline, dump_store(pipeline), published


async def test_stored_and_published_copies_carry_no_pii_and_no_key(tmp_path: Path) -> None:
    pipeline, stored, published = await _run(tmp_path, batch=False)
    assert "[EMAIL]" in stored and "[PHONE]" in stored and "[IBAN]" in stored  # the rows are there, redacted
    assert "[CREDENTIAL]" in stored and "[CREDENTIAL]" in published  # the 401 reached review, scrubbed
    for secret in PII:
        assert secret not in stored and secret not in published, secret


async def test_the_raw_event_kept_for_batch_labeling_is_redacted(tmp_path: Path) -> None:
    _, stored, _ = await _run(tmp_path, batch=True)
    assert "pending_batch" in stored and "[EMAIL]" in stored
    for secret in PII[:3]:
        assert secret not in stored, secret
