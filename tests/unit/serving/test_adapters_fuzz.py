"""The adapter subscriber fed hostile ``adapters.published`` / ``adapters.control`` records (issue #13).

Records generated from the contract's schemas (``hostile_strategies``: extreme
numbers and dates, huge strings, every Unicode category, wrong types, missing and
extra fields, foreign JSON, non-JSON bytes) with hostile URIs and adapter ids,
mixed with real adapters in a local store (some tampered), go one by one through
the subscriber's own :meth:`AdapterSubscriber._fold_safely`, then
:meth:`AdapterSubscriber._reconcile_safely` against a fake target, as its loop does.
Properties:

* nothing raises, and neither last guard fires: no record makes ``_fold`` raise
  (it validates or skips with a warning) and no reconcile fails unexpectedly;
* every record ends in exactly one place: applied to the book (the contract
  accepts it) or skipped and logged (it does not);
* the book stays consistent: every adapter in it is one the contract accepts,
  histories and pins name adapters of their own task, and a target only ever
  serves a verified adapter of the task, fetched inside the serving folder.

Thousands of examples in the suite (1,000-2,000 a consumer); ``FUZZ_EXAMPLES`` for the long run (``make fuzz``).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hostile_strategies import FUZZ_EXAMPLES, fuzz_profile, load_schema, message_values, run_fuzz, strings
from hypothesis import given
from hypothesis import strategies as st
from log_tap import LogTap

from distillery.artifacts import ArtifactStore
from distillery.errors import ServingError
from distillery.events import AdapterControl, AdapterPublished, GateMetrics, ModelScores
from serving.adapters.fetch import LocalAdapter
from serving.adapters.subscriber import AdapterSubscriber

PROFILE = fuzz_profile("adapters", 1_000)
TASKS = ["t", "u"]
POOL = ["a1", "a2", "a3", "a4", "bad", "gone"]
RESTART_EVERY = 100


class FakeTarget:
    """Serves what it is given; refuses one adapter as an engine would; checks what it receives."""

    kind = "fake"

    def __init__(self, cache_dir: Path, book_of: Any) -> None:
        self.cache_dir = cache_dir.resolve()
        self.book_of = book_of
        self.current: dict[str, str] = {}
        self.activated = 0

    def serving(self, task: str) -> str | None:
        return self.current.get(task)

    async def activate(self, adapter: LocalAdapter) -> None:
        assert adapter.path.resolve().is_relative_to(self.cache_dir), adapter.path
        assert adapter.event.adapter_id in self.book_of().published
        if adapter.adapter_id == "a3":
            raise ServingError("cannot load a3")
        assert (adapter.path / "adapter_model.safetensors").read_bytes() == adapter.adapter_id.encode()
        self.current[adapter.task] = adapter.adapter_id
        self.activated += 1


def real_adapters(store: ArtifactStore, tmp: Path) -> list[AdapterPublished]:
    """Adapters in a local store: a1, a2 and a3 sound, ``bad`` tampered, ``gone`` pointing nowhere."""
    out = []
    for adapter_id in ("a1", "a2", "a3", "bad", "gone"):
        src = tmp / "src" / adapter_id
        src.mkdir(parents=True)
        (src / "adapter_config.json").write_text("{}")
        (src / "adapter_model.safetensors").write_bytes(adapter_id.encode() + (b"!" if adapter_id == "bad" else b""))
        uri = store.put_dir(src, f"adapters/t/{adapter_id}")
        if adapter_id == "gone":
            uri += "-missing"
        for task in TASKS:
            out.append(AdapterPublished(
                task=task, adapter_id=adapter_id if task == "t" else f"{adapter_id}-u", job_id=f"j-{adapter_id}",
                uri=uri, sha256=hashlib.sha256(adapter_id.encode()).hexdigest(), base_model="b", student_prompt="",
                metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1))))
    return out


URIS = st.one_of(
    st.sampled_from(["", "/", "/etc", "/nonexistent/adapter", "file:///nonexistent", "memory://nothing",
                     "s3://bucket/adapters/x", "gs://bucket/x", "zip://../../../x::file:///nonexistent.zip",
                     "../../../../tmp", "file://" + "a/" * 2000, "\x00", "C:\\adapters\\x", "~/adapters"]),
    strings(0, 300).filter(lambda s: "://" not in s or s.startswith(("file", "memory"))),
)
IDS = st.one_of(st.sampled_from(POOL), st.sampled_from(["..", "../../etc", "/abs", ".", "a/b", "\x00", "CON"]),
                strings(1, 600))
PUBLISHED_FIELDS = {"task": st.one_of(st.sampled_from(TASKS), strings(0, 64)), "adapter_id": IDS, "uri": URIS}
VALID_PUBLISHED = {"task": st.sampled_from(TASKS), "adapter_id": IDS.filter(lambda s: 1 <= len(s) <= 512), "uri": URIS}
CONTROL_FIELDS = {"task": st.one_of(st.sampled_from(TASKS), strings(0, 64)),
                  "adapter_id": st.one_of(st.none(), IDS)}
VALID_CONTROL = {"task": st.sampled_from(TASKS),
                 "adapter_id": st.one_of(st.none(), st.sampled_from(POOL + [f"{a}-u" for a in POOL]))}
PUBLISHED = message_values(load_schema("adapters.published"), overrides=PUBLISHED_FIELDS,
                           valid_overrides=VALID_PUBLISHED)
CONTROL = message_values(load_schema("adapters.control"), overrides=CONTROL_FIELDS, valid_overrides=VALID_CONTROL)


class Harness:
    def __init__(self, tmp_path: Path, settings: Any) -> None:
        self.settings = settings
        store = ArtifactStore(str(tmp_path / "store"))
        self.real = [ev.model_dump_json().encode() for ev in real_adapters(store, tmp_path)]
        self.tmp_path = tmp_path
        self.loop = asyncio.new_event_loop()
        self.offset = 0
        self.figures: collections.Counter[str] = collections.Counter()
        self.activated = 0
        self.restart()

    def restart(self) -> None:
        """A fresh replica (a restart): keeps each check linear in a long run, as the book would grow for ever."""
        if getattr(self, "target", None) is not None:
            self.activated += self.target.activated
        self.cache_dir = self.tmp_path / f"serving-{self.figures['examples']}"
        self.target = FakeTarget(self.cache_dir, lambda: self.sub.book)
        self.sub = AdapterSubscriber(self.settings, [self.target], cache_dir=self.cache_dir)
        self.sub.ready.set()  # the live loop: control records are noted as they come

    def close(self) -> None:
        self.loop.close()

    def run(self, records: list[tuple[str, bytes | None]], fuzz_log: LogTap) -> None:
        if self.figures["examples"] and self.figures["examples"] % RESTART_EVERY == 0:
            self.restart()
        topics = self.settings.topics
        for kind, value in records:
            self.offset += 1
            topic = topics.published if kind == "published" else topics.control
            rec = _record(topic, self.offset, value)
            model: type[AdapterPublished] | type[AdapterControl] = (
                AdapterPublished if kind == "published" else AdapterControl)
            try:
                accepted: AdapterPublished | AdapterControl | None = model.model_validate_json(value or b"")
            except ValueError:
                accepted = None
            fuzz_log.clear()
            changed = self.sub._fold_safely(rec)  # the subscriber's own fold: must not raise
            errors = [r for r in fuzz_log.records if r.levelno >= logging.ERROR]
            assert not errors, f"_fold raised on {value[:300]!r}: {errors[0].getMessage()}"
            if accepted is None:
                assert changed is None
                assert any("skipped" in r.getMessage() and r.levelno == logging.WARNING for r in fuzz_log.records)
                self.figures["skipped"] += 1
                continue
            assert changed is not None and changed[0] == accepted.task
            self.figures["applied"] += 1
            self.loop.run_until_complete(self.sub._reconcile_safely(*changed, rec=rec))
            failures = [r for r in fuzz_log.records if r.levelno >= logging.ERROR]
            assert not failures, f"reconcile raised after {value[:300]!r}: {failures[0].getMessage()}"
        self.check()

    def check(self) -> None:
        book = self.sub.book
        for adapter_id, ev in book.published.items():
            assert ev.adapter_id == adapter_id
            AdapterPublished.model_validate_json(ev.model_dump_json())  # one the contract accepts, round trip
        for task in book.tasks():
            state = book.state(task)
            assert len(state.history) == len(set(state.history))
            for adapter_id in [*state.history, *state.rolled_back, *([state.pinned] if state.pinned else [])]:
                assert book.published[adapter_id].task == task
            candidates = [ev.adapter_id for ev in book.candidates(task)]
            assert len(candidates) == len(set(candidates))
            served = self.target.serving(task)
            if served is not None:
                assert book.published[served].task == task and served not in self.sub.refused
        for path in self.cache_dir.rglob("*") if self.cache_dir.exists() else []:
            assert path.resolve().is_relative_to(self.cache_dir.resolve())
        self.figures["examples"] += 1


def _record(topic: str, offset: int, value: bytes | None) -> Any:
    from aiokafka.structs import ConsumerRecord
    return ConsumerRecord(topic, 0, offset, offset, 0, None, value, None, 0, len(value or b""), [])


@pytest.mark.timeout(0 if FUZZ_EXAMPLES else 900)  # a hang guard sized for the suite's examples
def test_adapter_records_never_stop_the_subscriber_and_the_book_stays_consistent(
        settings_factory: Any, tmp_path: Path, fuzz_log: LogTap) -> None:
    harness = Harness(tmp_path, settings_factory())
    real = st.sampled_from(harness.real)
    records = st.lists(st.one_of(st.tuples(st.just("published"), real), st.tuples(st.just("published"), PUBLISHED),
                                 st.tuples(st.just("control"), CONTROL)), min_size=1, max_size=5)

    @PROFILE
    @given(batch=records)
    def one_batch(batch: list[tuple[str, bytes | None]]) -> None:
        harness.run(batch, fuzz_log)

    try:
        run_fuzz(one_batch)
    finally:
        harness.close()
        notes = collections.Counter(n.kind for n in harness.sub.notes)
        activated = harness.activated + harness.target.activated
        print("\nfuzz adapters:", json.dumps({**harness.figures, "notes": notes, "activated": activated}))
    assert harness.figures["applied"] > 0 and harness.figures["skipped"] > 0
    assert activated > 0
