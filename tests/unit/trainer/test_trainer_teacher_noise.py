"""Learning past the teacher's confident mistakes: the noise matrix from people's decisions, and the loss through it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from trainer_toy import LABELS, SYSTEM_PROMPT, toy_spec

from trainer.data import HUMAN_SOURCE, Example
from trainer.head import classify, load_head
from trainer.head_train import mixed_loss, teacher_noise, train_head_adapter
from trainer.loading import load_tokenizer, load_with_adapter
from trainer.teacher_noise import estimate

L3 = ["a", "b", "c"]


def test_a_confusion_counts_once_people_corrected_it_often_enough() -> None:
    pairs = [("b", "a")] * 2 + [("b", "b")] * 8
    assert estimate(L3, pairs, {"b": 10}, min_corrections=3).identity
    noise = estimate(L3, pairs + [("b", "a")], {"b": 10}, min_corrections=3)
    assert noise.corrected == {"a<-b": 1.0}  # the teacher never says "a": every "a" it met it called "b"
    assert noise.matrix[1] == (0.0, 1.0, 0.0)  # a true "b" is still called "b"


def test_bayes_turns_what_people_found_per_answer_into_what_the_teacher_says_per_truth() -> None:
    # the teacher says a 100 times and b 100 times; people found 30% of its a's are really b, 10% of its b's are a
    pairs = [("a", "a")] * 7 + [("a", "b")] * 3 + [("b", "b")] * 9 + [("b", "a")] * 1
    noise = estimate(L3, pairs, {"a": 100, "b": 100}, min_corrections=1)
    # truth a: 70 said a, 10 said b -> 7/8, 1/8; truth b: 30 said a, 90 said b -> 1/4, 3/4
    assert [round(x, 4) for x in noise.matrix[0]] == [0.875, 0.125, 0.0]
    assert [round(x, 4) for x in noise.matrix[1]] == [0.25, 0.75, 0.0]
    assert noise.matrix[2] == (0.0, 0.0, 1.0)
    assert noise.corrected == {"a<-b": 0.125, "b<-a": 0.25}


def test_answers_off_the_label_set_and_unreviewed_answers_are_taken_as_they_are() -> None:
    noise = estimate(L3, [("z", "a")] * 5 + [("a", "z")] * 5, {"a": 3, "z": 9}, min_corrections=1)
    assert noise.identity and noise.matrix == ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def test_an_identity_matrix_leaves_the_loss_as_it_was_and_a_blind_one_frees_the_confused_labels() -> None:
    logits = torch.tensor([[1.0, 0.5, -1.0], [0.2, 0.1, 2.0]], requires_grad=True)
    idx, conf = torch.tensor([0, 2]), torch.tensor([0.9, -1.0])
    plain = mixed_loss(logits, idx, conf, 0.3)
    same = mixed_loss(logits, idx, conf, 0.3, noise=torch.eye(3), noisy=torch.tensor([True, True]))
    assert abs(float(plain.detach()) - float(same.detach())) < 1e-6
    # the teacher calls every true 0 a 1: its label 1 means "0 or 1", and only a person's label says which
    blind = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    loss = mixed_loss(logits, torch.tensor([1, 1]), torch.tensor([-1.0, -1.0]), 0.0, noise=blind,
                      noisy=torch.tensor([True, False]))
    p = torch.softmax(logits.detach(), dim=-1)
    expected = (-torch.log(p[0, 0] + p[0, 1]) - torch.log(p[1, 1])) / 2
    assert abs(float(loss.detach()) - float(expected)) < 1e-6
    loss.backward()
    grad = logits.grad
    assert grad is not None
    assert float(grad[0, 0]) < 0 and float(grad[0, 1]) < 0  # teacher row: 0 and 1 both pulled up, 0 not pushed down
    assert float(grad[1, 1]) < 0 < float(grad[1, 0])  # the person's row: pushed to 1 as labeled


WORDS = {"fruit": ("apple", "pear"), "metal": ("iron", "gold"), "bird": ("crow", "swan")}


def _inputs(label: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(WORDS[label])} {rng.choice(['shop', 'store', 'co'])}" for _ in range(n)]


def _blind_teacher_snapshot() -> list[Example]:
    """20 teacher rows per truth, every bird called metal; people corrected 4 birds and accepted 4 metals."""
    rows = []
    for label in LABELS:
        said = "metal" if label == "bird" else label
        rows += [Example(f"t-{label}-{i}", text, said, said, source="teacher")
                 for i, text in enumerate(_inputs(label, 20, seed=1))]
    for label in ("bird", "metal"):
        for i, text in enumerate(_inputs(label, 4, seed=2)):
            human = Example(f"h-{label}-{i}", text, label, label, source=HUMAN_SOURCE, teacher_label="metal")
            rows += [human] * 3  # review.human_weight
    return rows


@pytest.mark.parametrize("min_corrections, learns_birds", [(3, True), (0, False)])
def test_a_head_learns_a_category_the_teacher_always_gets_wrong_only_through_the_noise_matrix(
        tiny_model: str, tmp_path: Path, min_corrections: int, learns_birds: bool) -> None:
    spec = toy_spec(num_train_epochs=8)
    spec = spec.model_copy(update={"review": spec.review.model_copy(
        update={"teacher_noise_min_corrections": min_corrections})})
    examples = _blind_teacher_snapshot()
    noise = teacher_noise(examples, spec)
    assert noise.identity is (min_corrections == 0)
    train_head_adapter(tiny_model, examples, spec, tmp_path / "adapter", device="cpu", progress=False)
    head = load_head(tmp_path / "adapter")
    assert head.meta.teacher_noise == ({} if min_corrections == 0 else {"bird<-metal": 1.0})
    model = load_with_adapter(tiny_model, tmp_path / "adapter", "cpu")
    gold = [Example(f"g-{label}-{i}", text, label, label) for label in LABELS
            for i, text in enumerate(_inputs(label, 12, seed=3))]
    answers = classify(model, load_tokenizer(tiny_model), head, SYSTEM_PROMPT, [g.input for g in gold])
    by_label = {label: [a[0] == g.label for a, g in zip(answers, gold, strict=True) if g.label == label]
                for label in LABELS}
    birds = sum(by_label["bird"]) / len(by_label["bird"])
    others = sum(by_label["fruit"] + by_label["metal"]) / len(by_label["fruit"] + by_label["metal"])
    if learns_birds:
        assert birds >= 0.8 and others >= 0.8, (birds, others)
    else:  # the plain loss copies the teacher: 20 teacher rows say metal against 12 (weighted) human ones
        assert birds <= 0.2, birds
