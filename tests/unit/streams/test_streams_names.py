"""The named-entity pass hides person names in what goes to the teacher, and only there (issue #13).

Presidio runs for real, over a small spaCy pipeline made here (a blank English
pipeline whose entity ruler knows a few names, saved with ``nlp.to_disk``): no
model hub is needed, and the setting is pointed at its folder as a user points it
at ``en_core_web_lg``'s.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest
import spacy
from hostile_support import FakeLabeler, FakeTeacher, dump_store, settings_for

from distillery.counters import Counters
from distillery.errors import ConfigError
from distillery.events import ChatMessage, InferenceEvent
from distillery.settings import NamesSettings, Settings
from streams.names import NameRedactor, hide_names
from streams.pipeline import Pipeline
from streams.redact import Redactor
from streams.source import Source
from streams.teacher.batch_poll import poll_batches
from streams.teacher.completions import TeacherResult

NAMES = ("JANE DOE", "JOHN SMITH")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A spaCy pipeline folder whose entity ruler tags a few names as PERSON."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([  # type: ignore[attr-defined]
        {"label": "PERSON", "pattern": [{"LOWER": first}, {"LOWER": last}]}
        for first, last in (("jane", "doe"), ("john", "smith"))
    ])
    path = tmp_path_factory.mktemp("names") / "en_names"
    nlp.to_disk(path)
    return str(path)


class RecordingTeacher(FakeTeacher):
    """The fake teacher, keeping every text it was asked to label."""

    def __init__(self, labels: list[str]) -> None:
        super().__init__(labels)
        self.seen: list[str] = []

    async def label(self, text: str) -> TeacherResult:
        self.seen.append(text)
        return await super().label(text)


def _settings(tmp_path: Path, model: str | None, *, batch: bool = False, base_rate: float = 1.0) -> Settings:
    settings = settings_for(tmp_path, batch=batch, base_rate=base_rate)
    streams = settings.streams.model_copy(update={"names": NamesSettings(model=model)})
    return settings.with_overrides(streams=streams)


def _events() -> list[InferenceEvent]:
    return [
        InferenceEvent(event_id="ev-0", task="transactions", input="ZELLE TO JANE DOE jane@mail.com",
                       ts=1_780_000_000_000),
        InferenceEvent(event_id="ev-1", task="transactions",
                       input=[ChatMessage(role="user", content="VENMO *JOHN SMITH")], ts=1_780_000_000_001),
        InferenceEvent(event_id="ev-2", task="transactions", input="STARBUCKS #1234 SEATTLE", ts=1_780_000_000_002),
    ]


async def _run(settings: Settings, events: list[InferenceEvent] | None = None,
               ) -> tuple[Pipeline, RecordingTeacher, str, str]:
    teacher = RecordingTeacher(list(settings.task("transactions").labels))
    pipeline = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher)  # type: ignore[arg-type,return-value]
    try:
        raws = [(e.to_json(), b"transactions", Source("inference.events", 0, i))
                for i, e in enumerate(events or _events())]
        out = await pipeline.process(raws)
        published = "\n".join(r.to_json().decode() for r in [*out.labeled, *out.review, *out.pending, *out.gold])
    finally:
        await pipeline.close()
    return pipeline, teacher, dump_store(pipeline), published


def test_names_become_placeholders_and_merchants_stay(model: str) -> None:
    names = NameRedactor.load(NamesSettings(model=model))
    try:
        got = names.redact_many(["ZELLE TO JANE DOE", "VENMO *JOHN SMITH REF JANE DOE", "STARBUCKS #1234", ""])
    finally:
        names.close()
    assert [r.text for r in got] == ["ZELLE TO [PERSON]", "VENMO *[PERSON] REF [PERSON]", "STARBUCKS #1234", ""]
    assert [r.counts for r in got] == [{"person": 1}, {"person": 2}, {}, {}]


async def test_chat_inputs_are_passed_message_by_message(model: str) -> None:
    names = NameRedactor.load(NamesSettings(model=model))
    chat = InferenceEvent(event_id="c", task="t", input=[ChatMessage(role="system", content="Categorise."),
                                                          ChatMessage(role="user", content="ZELLE TO JOHN SMITH")])
    plain = InferenceEvent(event_id="p", task="t", input="STARBUCKS #1234")
    try:
        got = await hide_names(names, Redactor(), [(chat, chat.input_text()), (plain, "STARBUCKS #1234")])
    finally:
        names.close()
    (ev, text, changed), (same, same_text, unchanged) = got
    assert text == "system: Categorise.\nuser: ZELLE TO [PERSON]" and changed
    assert ev.input_text() == text
    assert same_text == "STARBUCKS #1234" and same.input == "STARBUCKS #1234" and not unchanged


async def test_the_teacher_and_every_copy_of_its_events_see_no_name(tmp_path: Path, model: str) -> None:
    pipeline, teacher, stored, published = await _run(_settings(tmp_path, model))
    assert sorted(teacher.seen) == ["STARBUCKS #1234 SEATTLE", "ZELLE TO [PERSON] [EMAIL]", "user: VENMO *[PERSON]"]
    assert "ZELLE TO [PERSON] [EMAIL]" in stored and "ZELLE TO [PERSON] [EMAIL]" in published
    for name in NAMES:
        assert name not in stored and name not in published, name
    assert pipeline.counters.get("transactions", "names_redacted") == 2
    assert pipeline.counters.get("transactions", "names_seconds") > 0


async def test_events_waiting_for_a_batch_job_are_kept_without_names(tmp_path: Path, model: str) -> None:
    _, teacher, stored, published = await _run(_settings(tmp_path, model, batch=True))
    assert teacher.seen == []  # not yet: the Batch API job is submitted at the next poll
    assert "pending_batch" in stored and "ZELLE TO [PERSON] [EMAIL]" in published
    for name in NAMES:
        assert name not in stored and name not in published, name


async def test_the_batch_job_and_its_online_fallback_see_no_name(tmp_path: Path, model: str) -> None:
    settings = _settings(tmp_path, model, batch=True)
    teacher = RecordingTeacher(list(settings.task("transactions").labels))
    sent: dict[str, str] = {}

    class Labeler(FakeLabeler):
        async def submit(self, items: Mapping[str, str]) -> str:
            sent.update(items)
            return await super().submit(items)

    labeler = Labeler(teacher, {"collect": ["none"]})  # the job answers nothing: all labeled online
    pipeline = Pipeline(settings, Counters("streams"), teacher_factory=lambda task: teacher,  # type: ignore[arg-type,return-value]
                        labeler_factory=lambda client: labeler)  # type: ignore[arg-type,return-value]
    try:
        raws = [(e.to_json(), b"transactions", Source("inference.events", 0, i)) for i, e in enumerate(_events())]
        await pipeline.process(raws)
        out = await poll_batches(pipeline)
    finally:
        await pipeline.close()
    expected = ["STARBUCKS #1234 SEATTLE", "ZELLE TO [PERSON] [EMAIL]", "user: VENMO *[PERSON]"]
    assert sorted(sent.values()) == expected  # the Batch API job's inputs
    assert sorted(teacher.seen) == expected  # the online fallback's, made again from the stored events
    published = "\n".join(r.to_json().decode() for r in [*out.labeled, *out.review])
    assert "ZELLE TO [PERSON] [EMAIL]" in published and not any(name in published for name in NAMES)


async def test_gold_inputs_the_teacher_pins_are_kept_without_names(tmp_path: Path, model: str) -> None:
    gold = InferenceEvent(event_id="g-0", task="transactions", input="ZELLE TO JANE DOE", label="transfers_p2p",
                          ts=1_780_000_000_000)
    _, teacher, stored, published = await _run(_settings(tmp_path, model), [gold])
    assert teacher.seen == ["ZELLE TO [PERSON]"]
    assert "ZELLE TO [PERSON]" in stored and "ZELLE TO [PERSON]" in published and "gold" in stored
    assert "JANE DOE" not in stored and "JANE DOE" not in published


async def test_events_not_sampled_for_the_teacher_never_pay_for_the_pass(tmp_path: Path, model: str) -> None:
    pipeline, teacher, stored, published = await _run(_settings(tmp_path, model, base_rate=0.0))
    assert teacher.seen == [] and published == ""
    assert "ZELLE TO JANE DOE [EMAIL]" in stored  # the regex redactor ran; the names pass did not
    assert pipeline.counters.get("transactions", "names_seconds") == 0


async def test_the_pass_runs_off_the_event_loop_thread(tmp_path: Path, model: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    original = NameRedactor.redact_many

    def spy(self: NameRedactor, texts: list[str]):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return original(self, texts)

    monkeypatch.setattr(NameRedactor, "redact_many", spy)
    await _run(_settings(tmp_path, model))
    assert len(threads) == 1 and threads[0].startswith("distillery-names")  # one batch, on the pass's thread


def test_off_by_default(tmp_path: Path) -> None:
    pipeline = Pipeline(settings_for(tmp_path), Counters("streams"))
    assert pipeline.names is None


def test_a_missing_model_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    missing = str(tmp_path / "en_core_web_lg")
    with pytest.raises(ConfigError) as err:
        Pipeline(_settings(tmp_path, missing), Counters("streams"))
    message = str(err.value)
    assert "[streams.names.model]" in message and repr(missing) in message
    assert "neither an installed spaCy pipeline package nor a folder" in message
    with pytest.raises(ConfigError, match=r"'en_core_web_lg' is neither an installed"):
        NameRedactor.load(NamesSettings(model="en_core_web_lg"))  # not installed here: refused, never downloaded


def test_a_folder_that_is_no_pipeline_or_finds_no_names_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"\[streams.names.model\].*cannot be loaded as a spaCy pipeline"):
        NameRedactor.load(NamesSettings(model=str(empty)))
    blank = tmp_path / "blank"
    spacy.blank("en").to_disk(blank)
    with pytest.raises(ConfigError, match=r"recognises no person names"):
        NameRedactor.load(NamesSettings(model=str(blank)))


def test_unknown_entities_are_refused(model: str) -> None:
    with pytest.raises(ConfigError, match=r"\[streams.names.entities\].*\['PERSONS'\] are not known"):
        NameRedactor.load(NamesSettings(model=model, entities=("PERSONS",)))


def test_presidio_not_installed_says_how_to_install_it(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "presidio_analyzer", None)  # import fails as if it were not installed
    with pytest.raises(ConfigError, match=r"presidio_analyzer is not installed; run `pip install 'distillery\[names\]'`"):
        NameRedactor.load(NamesSettings(model=model))
