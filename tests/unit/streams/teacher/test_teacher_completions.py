"""A completion the teacher cannot use is a :class:`MalformedResponseError`, inside the error hierarchy."""

from __future__ import annotations

import pytest
from openai.types.chat import ChatCompletion

from distillery.errors import DistilleryError, MalformedResponseError, TeacherError
from distillery.taskspec import TaskSpec
from streams.teacher.completions import result_from_completion

SPEC = TaskSpec(name="t", kind="classification", labels=["coffee_shops", "fuel"])


def test_a_completion_without_choices_is_malformed_and_caught_as_a_teacher_error_or_value_error() -> None:
    completion = ChatCompletion(id="c", choices=[], created=0, model="m", object="chat.completion")
    with pytest.raises(MalformedResponseError, match="the response has no choices") as info:
        result_from_completion(SPEC, completion, latency_s=0.0, attempts=1)
    assert isinstance(info.value, TeacherError) and isinstance(info.value, DistilleryError)
    assert isinstance(info.value, ValueError)
