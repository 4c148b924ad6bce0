"""One transaction helper for every multi-statement write (:meth:`TaskStore.transaction`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.store.db import TaskStore


@pytest.mark.parametrize("hold_s", [0.0, 60.0])
def test_a_failed_transaction_leaves_nothing_and_a_good_one_commits(tmp_path: Path, hold_s: float) -> None:
    store = TaskStore(tmp_path / "t.duckdb", hold_s=hold_s)
    with pytest.raises(RuntimeError, match="half way"), store.transaction() as con:
        con.execute("INSERT INTO meta VALUES ('a', '1')")
        raise RuntimeError("half way")
    with store.transaction() as con:
        con.execute("INSERT INTO meta VALUES ('b', '2')")
    assert store.query("SELECT key, value FROM meta WHERE key IN ('a', 'b')") == [("b", "2")]
    store.close()


def test_a_lone_surrogate_in_a_student_output_or_a_teacher_answer_is_stored_escaped(tmp_path: Path) -> None:
    """JSON carries ``"\\ud800"``; UTF-8 cannot. Found by the long fuzz run: the row was refused and the batch
    redelivered for ever (a student ``output`` of 5,179 lone surrogates). Answers are written escaped."""
    from openai.types.chat import ChatCompletion

    from distillery.events import InferenceEvent
    from distillery.taskspec import TaskSpec
    from streams.rows import event_row
    from streams.store.db import StoreBatch
    from streams.teacher.completions import result_from_completion

    spec = TaskSpec(name="t", kind="classification", labels=["fuel", "groceries"])
    # the worker refuses such an event at the door (distillery.validation: not_unicode); the store must still
    # never be handed one by any other path (an event built in code, an answer)
    ev = InferenceEvent.model_validate({"event_id": "e1", "task": "t", "input": "SHELL", "route": "student",
                                        "output": "fuel\ud800"})
    completion = ChatCompletion.model_validate({
        "id": "c", "object": "chat.completion", "created": 0, "model": "m\ud800",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "\ud800fuel"}}]})
    answer = result_from_completion(spec, completion, latency_s=0.0, attempts=1)
    assert (answer.text, answer.model) == ("\\ud800fuel", "m\\ud800")
    store = TaskStore(tmp_path / "t.duckdb")
    store.write(StoreBatch(events=[event_row(ev, "SHELL", spec, "skipped", None)]))
    assert store.query("SELECT output FROM events") == [("fuel\\ud800",)]
    store.close()


def _limit(store: TaskStore) -> str:
    return str(store.query("SELECT current_setting('memory_limit')")[0][0])


def test_a_store_opens_with_its_memory_limit_and_a_bad_one_is_refused_by_name(tmp_path: Path) -> None:
    from distillery.errors import ArtifactError

    path = tmp_path / "t.duckdb"
    default = _limit(TaskStore(path))  # DuckDB's own: 80% of this machine's memory
    assert _limit(TaskStore(path, memory_limit="64MB")) == "61.0 MiB" != default
    assert _limit(TaskStore(path, read_only=True, memory_limit="128MiB")) == "128.0 MiB"
    with pytest.raises(ArtifactError, match="store_memory_limit: DuckDB refused 'lots'"):
        TaskStore(path, memory_limit="lots")


def test_the_worker_opens_each_task_store_with_the_configured_limit(settings_factory) -> None:
    from distillery.counters import Counters
    from streams.pipeline import Pipeline

    settings = settings_factory()
    settings = settings.with_overrides(streams=settings.streams.model_copy(update={"store_memory_limit": "96MB"}))
    pipeline = Pipeline(settings, Counters("streams"))
    store = pipeline.store(next(iter(settings.tasks)))
    assert _limit(store) == "91.5 MiB"
    store.close()
