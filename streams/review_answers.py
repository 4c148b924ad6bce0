"""What a person's answer must be to become ground truth (pure).

The same rule the teacher's answers meet (:func:`streams.teacher.filters.parse_answer`),
minus confidence: a classification answer must name a label of the set (the
forgiving match: ``Coffee Shops`` is ``coffee_shops``), an extraction answer
must be one JSON object valid against the task's ``output_schema``, a text
answer must not be empty. The review CLI, the review page, the Label Studio
import and the streams worker all call it, so a bad answer is refused at the
keyboard and again, whoever produced it, where it would be applied.

>>> from distillery.taskspec import TaskSpec
>>> spec = TaskSpec(name="t", kind="classification", labels=["coffee_shops", "fuel"])
>>> check_answer(spec, "Coffee Shops")
'coffee_shops'
>>> check_answer(spec, "tea")
Traceback (most recent call last):
...
distillery.errors.ReviewError: answer: 'tea' is not one of the 2 labels of task 't'; choose one of coffee_shops, fuel
"""

from __future__ import annotations

from typing import Any

from distillery.answers import encode
from distillery.errors import ReviewError
from distillery.taskspec import TaskSpec
from streams.teacher.filters import parse_answer


def check_answer(spec: TaskSpec, answer: str | dict[str, Any] | None) -> str | dict[str, Any]:
    """The canonical answer (a label, a JSON object or text), or :class:`ReviewError` saying what is wrong."""
    if answer is None:
        raise ReviewError(f"answer: missing for task {spec.name!r}; send the corrected answer")
    text = encode(answer)
    label, reason, detail = parse_answer(spec, text)
    if label is not None:
        return label
    shown = text if len(text) <= 80 else text[:77] + "..."
    if spec.kind == "classification":
        choices = ", ".join(spec.labels[:20]) + (" ..." if len(spec.labels) > 20 else "")
        raise ReviewError(f"answer: {shown!r} is not one of the {len(spec.labels)} labels of task {spec.name!r}; "
                          f"choose one of {choices}")
    if reason == "empty":
        raise ReviewError(f"answer: empty for task {spec.name!r}; send the answer")
    raise ReviewError(f"answer: {shown!r} is not valid for task {spec.name!r} ({reason}: {detail}); "
                      "send one JSON object that matches the task's output_schema")
