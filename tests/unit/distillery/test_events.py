"""Contract records: versioned, keyed by task, strict on the way out."""

from __future__ import annotations

import pydantic
import pytest

from distillery.events import (
    RECORD_BY_TOPIC,
    RECORDS,
    AdapterControl,
    DeadLetter,
    DriftEvent,
    GateMetrics,
    ModelScores,
    TrainJob,
)
from distillery.topics import Topics


def test_every_record_has_its_own_topic_and_version() -> None:
    assert len(RECORD_BY_TOPIC) == len(RECORDS) == 12
    for r in RECORDS:
        assert r.model_fields["schema_version"].default == 1


def test_topics_carry_the_prefix() -> None:
    t = Topics("acme.")
    assert t.all()[0] == "acme.inference.events"
    assert t.counters in t.compacted() and t.control not in t.compacted()
    assert all(name.startswith("acme.") for name in t.all())


def test_dead_letter_keeps_the_original_bytes() -> None:
    raw = b"\x00\xffnot-json"
    dl = DeadLetter(task="_unknown", reason="not_utf8", source_topic="inference.events",
                    source_partition=2, source_offset=41, original_b64=DeadLetter.encode(raw))
    back = DeadLetter.model_validate_json(dl.to_json())
    assert back.original() == raw
    assert (back.source_partition, back.source_offset) == (2, 41)


def test_outbound_records_refuse_unknown_fields_and_bad_hashes() -> None:
    with pytest.raises(pydantic.ValidationError):
        DriftEvent(task="t", signal="s", detector="ADWIN", surprise=1)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="snapshot_sha256"):
        TrainJob(task="t", job_id="j", snapshot_uri="file:///x", snapshot_sha256="abc")


def test_pin_needs_an_adapter_but_rollback_does_not() -> None:
    with pytest.raises(pydantic.ValidationError, match="adapter_id: required when action is 'pin'"):
        AdapterControl(task="t", action="pin")
    assert AdapterControl(task="t", action="rollback").adapter_id is None


def test_gate_metrics_round_trip() -> None:
    scores = ModelScores(n=10, accuracy=0.9, teacher_agreement=0.95, per_category={"a": 1.0, "b": 0.8},
                         worst_category="b")
    gm = GateMetrics(gold_size=10, candidate=scores, teacher=scores, rules={"beats_base": True})
    assert GateMetrics.model_validate_json(gm.model_dump_json()) == gm


def test_the_topics_a_store_is_rebuilt_from_keep_every_record() -> None:
    from distillery.kafka import _topic_configs

    t = Topics("acme.")
    assert t.retained() == {"acme.distill.labeled", "acme.distill.review", "acme.distill.gold",
                            "acme.distill.reviewed", "acme.distill.pending", "acme.train.jobs"}
    assert t.retained() <= set(t.all())
    assert _topic_configs(t, t.gold) == {"retention.ms": "-1"}
    assert _topic_configs(t, t.counters) == {"cleanup.policy": "compact"}
    assert _topic_configs(t, t.inference) == {}


def test_counts_and_times_that_no_store_column_holds_are_refused() -> None:
    """Before: a train job with n_train 2**62 passed, and the next owner's store restore crashed on it."""
    import pydantic
    import pytest

    from distillery.events import INT32_MAX, TS_MAX_MS, DriftEvent, TrainJob

    ok = {"task": "t", "job_id": "j", "snapshot_uri": "file:///s", "snapshot_sha256": "0" * 64}
    assert TrainJob(**ok, n_train=INT32_MAX, created_at_ms=TS_MAX_MS).n_train == INT32_MAX
    for bad in ({"n_train": INT32_MAX + 1}, {"n_eval": 2**62}, {"created_at_ms": TS_MAX_MS + 1}, {"created_at_ms": -1}):
        with pytest.raises(pydantic.ValidationError):
            TrainJob(**ok, **bad)
    with pytest.raises(pydantic.ValidationError):
        DriftEvent(task="t", signal="s", detector="d", detected_at_ms=2**63)
