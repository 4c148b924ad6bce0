"""The router's decisions and the events it emits, with a fake server and a fake teacher."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from router_fakes import Sink

from devkit.tiny_adapters import toy_spec
from distillery.artifacts import ArtifactStore
from distillery.errors import InvalidInputError, TeacherUnavailableError
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from distillery.settings import Settings
from serving.router import Router
from serving.vocabulary import SnapshotVocabulary
from streams.sampling import Outcome, TaskSampler
from streams.teacher.completions import TeacherResult
from trainer.predict import Prediction

VOCAB = frozenset({"apple", "pear", "iron", "gold", "crow", "swan"})


def adapter(adapter_id: str = "ad-1", threshold: float | None = 0.8, snapshot_uri: str | None = None
            ) -> AdapterPublished:
    return AdapterPublished(task="toy", adapter_id=adapter_id, job_id="j", uri="/x", sha256="0" * 64,
                            base_model="smollm2-135m-instruct", student_prompt="Label it.", snapshot_uri=snapshot_uri,
                            metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1)),
                            router_threshold=threshold)


class FakeServer:
    def __init__(self, served: AdapterPublished | None, confidence: float = 0.9,
                 answered_by: AdapterPublished | None = None) -> None:
        self.adapter, self.confidence, self.answered_by = served, confidence, answered_by
        self.calls = 0

    def served(self, task: str) -> AdapterPublished | None:
        return self.adapter

    def predict_served(self, task: str, texts: Sequence[str]) -> tuple[AdapterPublished | None, list[Prediction]]:
        self.calls += 1
        return self.answered_by or self.adapter, [Prediction("fruit", self.confidence) for _ in texts]


class FakeTeacher:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.closed = fail, False
        self.texts: list[str] = []

    async def label(self, text: str) -> TeacherResult:
        self.texts.append(text)
        if self.fail:
            raise TeacherUnavailableError("teacher at http://t: gave up after 6 attempts")
        return TeacherResult(text="metal", label="metal", confidence=0.97, prompt_tokens=120, completion_tokens=2,
                             cost_usd=0.0003, model="gpt-4.1-2025-04-14")

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def settings(settings_factory) -> Settings:
    return settings_factory(tasks={"toy": toy_spec("toy"), "open": toy_spec("open", ood_escalates=False)})


def make(settings: Settings, server: FakeServer, teacher: FakeTeacher | None = None,
         vocab: frozenset[str] | None = VOCAB) -> tuple[Router, Sink, FakeTeacher]:
    sink, teacher = Sink(), teacher or FakeTeacher()
    return Router(settings, server, sink, teacher=lambda task: teacher, vocabulary=lambda a: vocab), sink, teacher


def test_after_a_drift_alarm_an_older_student_answers_only_familiar_inputs(settings: Settings) -> None:
    served = adapter()
    alarms: dict[str, int] = {}
    sink, teacher = Sink(), FakeTeacher()
    router = Router(settings, FakeServer(served, confidence=0.99), sink, teacher=lambda task: teacher,
                    vocabulary=lambda a: VOCAB, drift_since=alarms.get)
    assert router.route("toy", "zebra apple pear").route == "student"  # a third unseen: in distribution
    alarms["toy"] = served.created_at_ms - 1  # an alarm older than the adapter: it learned the new traffic
    assert router.route("toy", "zebra apple pear").route == "student"
    alarms["toy"] = served.created_at_ms + 1  # the traffic changed after the adapter was judged
    got = router.route("toy", "zebra apple pear")
    assert (got.route, got.reason) == ("teacher", "out_of_distribution")
    assert router.route("toy", "apple pear 7").route == "student"  # every word familiar: the student answers
    # an adapter published after the alarm but trained on a snapshot cut before it has not learned the change
    router.server = FakeServer(served.model_copy(update={"snapshot_at_ms": served.created_at_ms - 10,
                                                         "created_at_ms": served.created_at_ms + 5}), confidence=0.99)
    assert router.route("toy", "zebra apple pear").reason == "out_of_distribution"
    router.close()


def test_a_confident_student_answers_and_the_event_says_so(settings: Settings) -> None:
    router, sink, teacher = make(settings, FakeServer(adapter(), confidence=0.8))
    got = router.route("toy", "apple 12", event_id="e-1")
    assert (got.answer, got.route, got.reason, got.confidence, got.adapter_id) == ("fruit", "student", "confident",
                                                                                  0.8, "ad-1")
    ev = sink.events[0]
    assert (ev.event_id, ev.task, ev.input, ev.output, ev.route, ev.model, ev.confidence) == (
        "e-1", "toy", "apple 12", "fruit", "student", "smollm2-135m-instruct", 0.8)
    assert ev.metadata == {"reason": "confident", "adapter_id": "ad-1", "threshold": 0.8, "unseen_share": 0.0}
    assert teacher.texts == []
    router.close()


def test_an_unsure_student_escalates_and_streams_takes_the_answer_as_a_label(settings: Settings) -> None:
    router, sink, teacher = make(settings, FakeServer(adapter(), confidence=0.79))
    got = router.route("toy", "pear 7")
    assert (got.answer, got.route, got.reason, got.model, got.student_answer, got.student_confidence) == (
        "metal", "teacher", "low_confidence", "gpt-4.1", "fruit", 0.79)
    ev = sink.events[0]
    assert (ev.route, ev.model, ev.output, ev.confidence, ev.usage.prompt_tokens if ev.usage else None) == (
        "teacher", "gpt-4.1", "metal", 0.97, 120)
    assert ev.metadata is not None and ev.metadata["teacher_model_version"] == "gpt-4.1-2025-04-14"
    decision = TaskSampler(settings.task("toy")).decide(ev)
    assert decision.outcome is Outcome.PRODUCTION_LABEL  # a label without a second teacher call
    router.close()
    assert teacher.closed


def test_out_of_distribution_inputs_escalate_before_the_student_runs(settings: Settings) -> None:
    server = FakeServer(adapter(), confidence=0.99)
    router, _, _ = make(settings, server)
    got = router.route("toy", "zebra quokka apple 3")
    assert (got.route, got.reason, got.unseen_share, server.calls) == ("teacher", "out_of_distribution",
                                                                       2 / 3, 0)
    assert router.route("toy", "zebra apple pear").route == "student"  # a third unseen: in distribution
    assert router.route("open", "zebra quokka 3").route == "student"  # this task does not escalate OOD
    unknown, _, _ = make(settings, FakeServer(adapter(), confidence=0.99), vocab=None)
    assert unknown.route("toy", "zebra quokka").reason == "confident"  # no vocabulary: no check
    router.close()
    unknown.close()


def test_without_an_adapter_or_a_threshold_the_teacher_answers_everything(settings: Settings) -> None:
    for server, reason in ((FakeServer(None), "no_adapter"), (FakeServer(adapter(threshold=None)), "no_threshold")):
        router, sink, _ = make(settings, server)
        got = router.route("toy", "apple 1")
        assert (got.route, got.reason, server.calls, sink.events[0].route) == ("teacher", reason, 0, "teacher")
        router.close()


def test_a_failed_teacher_falls_back_to_the_student_if_there_is_one(settings: Settings) -> None:
    server = FakeServer(adapter(threshold=None))
    router, sink, _ = make(settings, server, FakeTeacher(fail=True))
    got = router.route("toy", "apple 1")
    assert (got.answer, got.route, got.reason, server.calls) == ("fruit", "student", "teacher_failed", 1)
    assert sink.events[0].metadata is not None and sink.events[0].metadata["reason"] == "teacher_failed"
    router.close()
    router, sink, _ = make(settings, FakeServer(None), FakeTeacher(fail=True))
    with pytest.raises(TeacherUnavailableError, match="gave up"):
        router.route("toy", "apple 1")
    assert sink.events == []
    router.close()


async def test_the_async_path_decides_the_same(settings: Settings) -> None:
    router, sink, _ = make(settings, FakeServer(adapter(), confidence=0.5))
    got = await router.aroute("toy", "crow 3", event_id="e-9")
    assert (got.route, got.reason, got.answer, sink.events[0].event_id) == ("teacher", "low_confidence", "metal",
                                                                             "e-9")
    await router.aclose()
    assert router.escalation_share("toy") == 1.0 and router.escalation_share("open") == 0.0


def test_a_swap_between_the_reads_judges_by_the_adapter_that_answered(settings: Settings) -> None:
    server = FakeServer(adapter("old", threshold=0.95), confidence=0.9, answered_by=adapter("new", threshold=0.85))
    router, _, _ = make(settings, server)
    got = router.route("toy", "apple 1")
    assert (got.route, got.adapter_id, got.threshold) == ("student", "new", 0.85)
    router.close()


def test_an_event_id_the_contract_refuses_is_refused_before_the_teacher_is_paid(settings: Settings) -> None:
    """Before: a caller's id over 512 characters failed the inference event after the teacher had answered."""
    router, sink, teacher = make(settings, FakeServer(None))
    with pytest.raises(InvalidInputError, match="event_id: 513 characters"):
        router.route("toy", "apple 1", event_id="x" * 513)
    assert teacher.texts == [] and sink.events == []
    assert router.route("toy", "apple 1", event_id="x" * 512).event_id == "x" * 512
    router.close()


def test_an_empty_input_is_refused(settings: Settings) -> None:
    router, _, _ = make(settings, FakeServer(adapter()))
    with pytest.raises(InvalidInputError, match="input: '  ' is empty"):
        router.route("toy", "  ")


def test_the_vocabulary_comes_from_the_train_rows_of_the_verified_snapshot(tmp_path: Path) -> None:
    table = pa.table({"input": ["Apple Pear 12", "iron", "zebra"], "split": ["train", "train", "eval"]})
    pq.write_table(table, tmp_path / "snap.parquet")
    uri, digest = ArtifactStore(str(tmp_path / "store")).put_file(tmp_path / "snap.parquet", "snapshots/toy",
                                                                  suffix=".parquet")
    vocab = SnapshotVocabulary(tmp_path)
    assert vocab(adapter(snapshot_uri=uri)) == frozenset({"apple", "pear", "iron"})
    assert vocab(adapter(snapshot_uri=None)) is None
    pq.write_table(pa.table({"input": ["other"]}), tmp_path / "store" / "snapshots" / "toy" / f"{digest}.parquet")
    assert SnapshotVocabulary(tmp_path)(adapter(snapshot_uri=uri)) is None  # fails its hash: no check, logged
