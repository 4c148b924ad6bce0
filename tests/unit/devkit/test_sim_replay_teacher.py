"""The simulated teacher of a replayed task: answers from the rows' labels, never outside the label set."""

from __future__ import annotations

from collections import Counter
from typing import Any

import openai
import pytest

from devkit.sim.teacher_model import ReplayTeacher, SimTeacher
from devkit.sim.teacher_server import SimTeacherServer
from devkit.sim.transactions import TransactionGenerator
from distillery.taskspec import TaskSpec
from streams.teacher.prompts import teacher_request

LABELS = ["refund", "billing", "bug", "other"]
TRUTH = {f"ticket {i}: {LABELS[i % 4]} please": LABELS[i % 4] for i in range(4000)}
TICKETS = TaskSpec(name="tickets", kind="classification", labels=LABELS)


def test_answers_come_from_the_rows_labels_at_the_set_accuracy() -> None:
    teacher = ReplayTeacher(LABELS, TRUTH, accuracy=0.9, seed=3)
    answers = [(truth, teacher.answer(text)) for text, truth in TRUTH.items()]
    assert {a.label for _, a in answers} == set(LABELS)
    assert all(a.truth == truth and a.source == "ground_truth" for truth, a in answers)
    right = sum(a.label == truth for truth, a in answers) / len(answers)
    assert right == pytest.approx(0.9, abs=0.02)
    for _, a in answers:
        assert a.confidence + sum(p for _, p in a.alternatives) == pytest.approx(1.0)
        assert {alt for alt, _ in a.alternatives} <= set(LABELS) - {a.label}


def test_answers_are_seeded_and_inputs_matched_loosely() -> None:
    a, b, c = ReplayTeacher(LABELS, TRUTH, seed=0), ReplayTeacher(LABELS, TRUTH, seed=0), ReplayTeacher(LABELS, TRUTH, seed=1)
    texts = list(TRUTH)[:300]
    assert [a.answer(t) for t in texts] == [b.answer(t) for t in texts]
    assert [a.answer(t).confidence for t in texts] != [c.answer(t).confidence for t in texts]
    assert a.answer("  TICKET 5:   billing please").truth == "billing"


def test_unknown_inputs_and_foreign_labels_get_a_guess_inside_the_set() -> None:
    teacher = ReplayTeacher(LABELS, {"x": "cancel"}, seed=0)
    for text in ("x", "never seen", "STARBUCKS #1234 SEATTLE WA"):
        a = teacher.answer(text)
        assert (a.source, a.truth) == ("guess", None)
        assert a.label in LABELS and 0.2 <= a.confidence <= 0.45
    with pytest.raises(ValueError, match=r"labels: a classification teacher needs at least two labels, got \['a', 'a'\]"):
        ReplayTeacher(["a", "a"])


def _ask(server: SimTeacherServer, spec: TaskSpec, texts: list[str]) -> list[str]:
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    out = []
    for text in texts:
        req: dict[str, Any] = teacher_request(spec, text)
        c = client.chat.completions.create(**req)
        out.append(c.choices[0].message.content or "")
    client.close()
    return out


def test_the_default_server_answers_another_task_within_its_labels() -> None:
    texts = [*list(TRUTH)[:20], "STARBUCKS #1234 SEATTLE WA", "SHELL OIL 57444 PORTLAND OR"]
    with SimTeacherServer().run_in_thread() as server:
        answers = _ask(server, TICKETS, texts)
    assert len(answers) == len(texts) and set(answers) <= set(LABELS)
    other = server.teacher_for(teacher_request(TICKETS, "x"))
    assert isinstance(other, ReplayTeacher) and other.labels == tuple(LABELS)
    assert answers == [other.answer(t).label for t in texts]


def test_the_server_answers_with_a_replay_teacher_from_the_rows() -> None:
    teacher = ReplayTeacher(LABELS, TRUTH, accuracy=0.95, seed=7)
    texts = list(TRUTH)[:40]
    with SimTeacherServer(teacher).run_in_thread() as server:
        answers = _ask(server, TICKETS, texts)
    assert answers == [teacher.answer(t).label for t in texts]
    assert server.teacher_for(teacher_request(TICKETS, "x")) is teacher
    hits = Counter(a == TRUTH[t] for a, t in zip(answers, texts, strict=True))
    assert hits[True] >= 34


def test_transactions_are_still_answered_by_the_sim_teacher() -> None:
    from devkit.sim.transactions import CATEGORY_NAMES

    spec = TaskSpec(name="transactions", kind="classification", labels=list(CATEGORY_NAMES))
    texts = [t.text for t in TransactionGenerator(seed=5).stream(30)]
    teacher = SimTeacher(seed=0)
    with SimTeacherServer().run_in_thread() as server:
        answers = _ask(server, spec, texts)
        assert server.teacher_for(teacher_request(spec, "x")) is server.teacher
    assert answers == [teacher.answer(t).label for t in texts]
