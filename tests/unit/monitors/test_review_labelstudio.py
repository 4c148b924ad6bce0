"""Label Studio round trip: the queue exported as tasks, annotated as Label Studio would export them,
imported back as the very decisions the review page would have sent; bad annotations refused by id."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from distillery.errors import ReviewError
from distillery.events import LabeledExample, ReviewItem
from distillery.taskspec import TaskSpec
from monitors.review.labelstudio import export_tasks, import_decisions, label_config
from monitors.review.queue import ReviewQueue

TASK = "transactions"
T0 = 1_780_000_000_000
ITEMS = [ReviewItem(task=TASK, event_id=f"r-{i}", input=f"SHOP {i}", reason="low_confidence: 0.5 < 0.7",
                    teacher_output=a, teacher_confidence=0.5, teacher_model="gpt-4.1", ts_ms=T0 + i)
         for i, a in enumerate(["fuel", "fast_food", "groceries", "diner"])]
# what the reviewer decides on each item: (verdict, answer given)
CHOICES = {"r-0": ("accept", None), "r-1": ("correct", "coffee_shops"), "r-2": ("skip", None),
           "r-3": ("correct", "restaurants")}


def _queue(settings, path) -> ReviewQueue:
    q = ReviewQueue(path, settings)
    q.ingest(ITEMS, {})
    return q


def _annotate(tasks: list[dict], choices: dict[str, tuple[str, str | None]]) -> list[dict]:
    """What Label Studio's JSON export holds after an annotator worked through the tasks."""
    out = []
    for n, task in enumerate(tasks, 1):
        verdict, answer = choices[task["data"]["item_id"]]
        predicted = task["predictions"][0]["result"][0]["value"]["choices"][0] if task.get("predictions") else None
        chosen = answer or predicted
        result = [] if verdict == "skip" else [{"from_name": "label", "to_name": "text", "type": "choices",
                                                 "value": {"choices": [chosen]}}]
        out.append({**task, "id": n, "annotations": [
            {"id": 10 * n, "completed_by": {"id": 7, "email": "ana@example.com"}, "was_cancelled": verdict == "skip",
             "result": result, "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z"}]})
    return out


def test_a_label_studio_round_trip_gives_the_decisions_the_page_gives(settings_factory, tmp_path) -> None:
    s = settings_factory()
    page = _queue(s, tmp_path / "a.sqlite")
    direct = [page.decide(TASK, i, "label-studio:ana@example.com", v, a, tool="label-studio", now_ms=T0)  # type: ignore[arg-type]
              for i, (v, a) in CHOICES.items()]
    studio = _queue(s, tmp_path / "b.sqlite")
    tasks = export_tasks(studio.open_items(), s.tasks)
    assert [t["data"]["item_id"] for t in tasks] == ["r-0", "r-1", "r-2", "r-3"]
    assert tasks[0]["predictions"] == [{"model_version": "gpt-4.1", "score": 0.5, "result": [
        {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["fuel"]}}]}]
    assert "predictions" not in tasks[3]  # 'diner' is no label: nothing to preselect
    exported = json.loads(json.dumps(_annotate(tasks, CHOICES)))  # through a file, as Label Studio writes it
    got = import_decisions(exported, studio)
    assert got.problems == [] and got.unannotated == 0

    def key(d):
        return d.item_id, d.decision, d.answer, d.reviewer, d.teacher_output, d.category, d.origin, d.tool

    assert [key(d) for d in got.decisions] == [key(d) for d in direct]


def test_bad_annotations_are_refused_by_their_label_studio_id(settings_factory, tmp_path) -> None:
    s = settings_factory()
    q = _queue(s, tmp_path / "q.sqlite")
    tasks = _annotate(export_tasks(q.open_items(), s.tasks), {**CHOICES, "r-1": ("correct", "tea")})
    tasks[0]["data"]["item_id"] = "r-404"
    tasks.append({"id": 99, "data": {"text": "x"}})
    got = import_decisions(tasks, q)
    assert [d.item_id for d in got.decisions] == ["r-2", "r-3"]
    assert got.problems[0] == "task 1 (item 'r-404'): item_id: 'r-404' is not in the review queue of task 'transactions'"
    assert got.problems[1].startswith("task 2 (item 'r-1'): answer: 'tea' is not one of the 43 labels")
    assert got.problems[2].startswith("task 99: data.item_id / data.distillery_task missing")
    with pytest.raises(ReviewError, match="expected Label Studio's JSON export, a list of tasks"):
        import_decisions({"tasks": []}, q)


def test_label_configs_name_every_label_or_offer_the_json_to_edit(settings_factory) -> None:
    s = settings_factory()
    root = ET.fromstring(label_config(s.task(TASK)))
    assert [c.get("value") for c in root.iter("Choice")] == s.task(TASK).labels
    spec = TaskSpec(name="inv", kind="extraction", output_schema={"type": "object"})
    assert ET.fromstring(label_config(spec)).find("TextArea").get("name") == "answer"


def test_extraction_answers_round_trip_as_json_text(settings_factory, tmp_path) -> None:
    spec = TaskSpec(name="inv", kind="extraction", output_schema={
        "type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}})
    s = settings_factory(tasks={"inv": spec})
    q = ReviewQueue(tmp_path / "q.sqlite", s)
    q.ingest([LabeledExample(task="inv", event_id=f"x-{i}", input="TOTAL 3.50", label={"amount": 3.5},
                             source="teacher", teacher_confidence=0.99) for i in range(400)], {})
    tasks = export_tasks(q.open_items(), s.tasks)
    assert tasks and tasks[0]["predictions"][0]["result"][0]["value"] == {"text": ['{"amount":3.5}']}
    tasks[0]["annotations"] = [{"result": [{"type": "textarea", "value": {"text": ['{"amount": 3.5}']}}]}]
    tasks[1]["annotations"] = [{"result": [{"type": "textarea", "value": {"text": ['{"amount": 35}']}}]}]
    got = import_decisions(tasks[:2], q)
    assert [(d.decision, d.answer) for d in got.decisions] == [("accept", None), ("correct", {"amount": 35})]
