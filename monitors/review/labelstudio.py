"""Label Studio interop: the queue out as Label Studio JSON tasks, annotations back as decisions.

Export (:func:`export_tasks`): one task per open item, ``data.text`` the
(redacted) input and ``data`` also carrying the Distillery task, item id, why
it is in the queue and the teacher's answer; the teacher's answer travels as a
*prediction* (``model_version`` the teacher, ``score`` its confidence), so
annotators start from it. :func:`label_config` gives the matching labeling
config: ``<Choices name="label">`` over the label set for classification, a
``<TextArea name="answer">`` (the JSON to edit, for extraction) otherwise.

Import (:func:`import_decisions`): Label Studio's JSON export of annotated
tasks. Per task, the newest annotation decides: cancelled (skipped) is
``skip``; the teacher's answer unchanged is ``accept``; anything else is
``correct``. Each becomes the same :class:`~distillery.events.ReviewDecision`
the page or the CLI would send (``tool`` = ``label-studio``, ``reviewer`` =
``label-studio:<annotator>``), checked the same way; a task that cannot be
read or whose answer the task refuses is reported by its Label Studio id and
sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from distillery.answers import same_answer
from distillery.errors import ReviewError
from distillery.events import ReviewDecision
from distillery.taskspec import TaskSpec
from monitors.review.queue import QueueItem, ReviewQueue

FROM_LABEL = "label"
FROM_ANSWER = "answer"
TO_NAME = "text"
TOOL = "label-studio"


def label_config(spec: TaskSpec) -> str:
    """The Label Studio labeling config for a task's items."""
    head = f'<View>\n  <Text name="{TO_NAME}" value="$text"/>\n  <Header value="$reason"/>\n'
    if spec.kind == "classification":
        choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in spec.labels)
        return (f'{head}  <Choices name="{FROM_LABEL}" toName="{TO_NAME}" choice="single" showInline="true">\n'
                f"{choices}\n  </Choices>\n</View>\n")
    return (f'{head}  <TextArea name="{FROM_ANSWER}" toName="{TO_NAME}" maxSubmissions="1" editable="true" '
            f'rows="6"/>\n</View>\n')


def _result(spec: TaskSpec, answer: str) -> dict[str, Any]:
    if spec.kind == "classification":
        return {"from_name": FROM_LABEL, "to_name": TO_NAME, "type": "choices", "value": {"choices": [answer]}}
    return {"from_name": FROM_ANSWER, "to_name": TO_NAME, "type": "textarea", "value": {"text": [answer]}}


def export_tasks(items: list[QueueItem], specs: dict[str, TaskSpec]) -> list[dict[str, Any]]:
    """Label Studio tasks for ``items``, the teacher's answer as a prediction where it is usable."""
    out = []
    for item in items:
        spec = specs[item.task]
        task: dict[str, Any] = {"data": {
            "text": item.input, "distillery_task": item.task, "item_id": item.item_id, "origin": item.origin,
            "reason": item.reason, "teacher": item.teacher_output, "teacher_confidence": item.teacher_confidence,
            "student": item.student_output}}
        shown = item.category if spec.kind == "classification" else item.teacher_output
        if shown is not None:
            prediction: dict[str, Any] = {"model_version": item.teacher_model or "teacher",
                                          "result": [_result(spec, shown)]}
            if item.teacher_confidence is not None:
                prediction["score"] = item.teacher_confidence
            task["predictions"] = [prediction]
        out.append(task)
    return out


@dataclass
class Imported:
    """Decisions read from a Label Studio export, and what could not be read (by Label Studio task id)."""

    decisions: list[ReviewDecision] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unannotated: int = 0


def _annotator(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return f"label-studio:{who if who not in (None, '') else 'unknown'}"


def _answer(annotation: dict[str, Any]) -> str | None:
    for result in annotation.get("result") or []:
        value = result.get("value") or {}
        for key in ("choices", "text"):
            got = value.get(key)
            if isinstance(got, list) and got and isinstance(got[0], str):
                return got[0]
    return None


def _same(spec: TaskSpec, answer: str, item: QueueItem) -> bool:
    """The annotation gives the teacher's answer (its label, for a classification) back."""
    return same_answer(answer, item.category if spec.kind == "classification" else item.teacher_output)


def import_decisions(exported: Any, queue: ReviewQueue) -> Imported:
    """The decisions of a Label Studio JSON export (a list of annotated tasks), checked against the queue."""
    out = Imported()
    if not isinstance(exported, list):
        raise ReviewError("file: expected Label Studio's JSON export, a list of tasks; export the project as JSON")
    for n, task in enumerate(exported):
        ls_id = task.get("id", f"#{n}") if isinstance(task, dict) else f"#{n}"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not data.get("item_id") or not data.get("distillery_task"):
            out.problems.append(f"task {ls_id}: data.item_id / data.distillery_task missing; import only tasks "
                                "exported by `distillery review export`")
            continue
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
        if not annotations:
            out.unannotated += 1
            continue
        latest = max(annotations, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""),
                                                 str(a.get("id") or "")))
        name, item_id = str(data["distillery_task"]), str(data["item_id"])
        try:
            item = queue.item(name, item_id)
            if item is None:
                raise ReviewError(f"item_id: {item_id!r} is not in the review queue of task {name!r}")
            spec = queue.settings.task(name)
            answer = _answer(latest)
            if latest.get("was_cancelled"):
                verdict, given = "skip", None
            elif answer is None:
                raise ReviewError("result: the annotation has no choice or text; annotate it or skip it in Label "
                                  "Studio")
            elif _same(spec, answer, item):
                verdict, given = "accept", None
            else:
                verdict, given = "correct", answer
            out.decisions.append(queue.decide(name, item_id, _annotator(latest), verdict, given,  # type: ignore[arg-type]
                                              tool=TOOL))
        except ReviewError as exc:
            out.problems.append(f"task {ls_id} (item {item_id!r}): {exc}")
    return out
