"""Label scoring: the one-pass tree mask gives exactly what scoring each label alone gives."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from peft import LoraConfig, get_peft_model
from trainer_toy import LABELS, SYSTEM_PROMPT, toy_examples

from distillery.errors import TrainingError
from trainer.data import encode
from trainer.loading import load_base, load_tokenizer
from trainer.scoring import score_labels

TEXTS = [e.input for e in toy_examples(5, seed=4)] + ["a much longer input: iron gold crow swan 12 13 14"]


@pytest.fixture(scope="module")
def peft_model(tiny_model: str) -> object:
    """The tiny model with a random (non-zero) LoRA, so the adapter path is exercised."""
    model, _ = load_base(tiny_model, "cpu")
    torch.manual_seed(0)
    config = LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear", init_lora_weights=False)
    return get_peft_model(model, config)


def _one_label_at_a_time(model: Any, tokenizer: Any) -> torch.Tensor:
    out = torch.zeros(len(TEXTS), len(LABELS))
    with torch.no_grad():
        for i, text in enumerate(TEXTS):
            for k, label in enumerate(LABELS):
                prompt, completion = encode(tokenizer, SYSTEM_PROMPT, text, label)
                logits = model(input_ids=torch.tensor([prompt + completion])).logits[0]
                logps = torch.log_softmax(logits.float(), dim=-1)
                out[i, k] = sum(logps[len(prompt) - 1 + j, t] for j, t in enumerate(completion))
    return torch.softmax(out, dim=-1)


def test_tree_scoring_equals_scoring_each_label_alone(tiny_model: str, peft_model: object) -> None:
    tokenizer = load_tokenizer(tiny_model)
    expected = _one_label_at_a_time(peft_model, tokenizer)
    scores = score_labels(peft_model, tokenizer, TEXTS, LABELS, SYSTEM_PROMPT, batch_size=4)
    got = torch.tensor([s.probs for s in scores])
    assert torch.allclose(got, expected, atol=1e-5)
    assert [s.label for s in scores] == [LABELS[i] for i in expected.argmax(dim=-1).tolist()]
    assert [s.confidence for s in scores] == pytest.approx(expected.max(dim=-1).values.tolist(), abs=1e-5)


def test_batch_size_does_not_change_scores(tiny_model: str, peft_model: object) -> None:
    tokenizer = load_tokenizer(tiny_model)
    one = score_labels(peft_model, tokenizer, TEXTS, LABELS, SYSTEM_PROMPT, batch_size=1)
    many = score_labels(peft_model, tokenizer, TEXTS, LABELS, SYSTEM_PROMPT, batch_size=6)
    assert torch.allclose(
        torch.tensor([s.probs for s in one]), torch.tensor([s.probs for s in many]), atol=1e-5
    )


def test_scoring_leaves_the_model_in_its_mode(tiny_model: str, peft_model: object) -> None:
    peft_model.train()  # type: ignore[attr-defined]
    score_labels(peft_model, load_tokenizer(tiny_model), TEXTS[:1], LABELS, SYSTEM_PROMPT)
    assert peft_model.training  # type: ignore[attr-defined]


def test_scoring_needs_two_labels(tiny_model: str, peft_model: object) -> None:
    with pytest.raises(TrainingError, match="at least two labels"):
        score_labels(peft_model, load_tokenizer(tiny_model), TEXTS, ["only"], SYSTEM_PROMPT)
    assert score_labels(peft_model, load_tokenizer(tiny_model), [], LABELS, SYSTEM_PROMPT) == []
