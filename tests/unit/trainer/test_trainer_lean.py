"""The CPU loss: packing the batch and projecting answers only changes nothing but speed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from peft import LoraConfig, get_peft_model
from trainer_toy import SYSTEM_PROMPT, toy_examples

from trainer.data import encode
from trainer.lean import (
    CompletionHeadSFTTrainer,
    PackedLayout,
    backbone_hidden,
    inputs_needed,
    shared_prefix_length,
)
from trainer.loading import load_base, load_tokenizer


def _batch(tokenizer: Any) -> dict[str, torch.Tensor]:
    pairs = [encode(tokenizer, SYSTEM_PROMPT, e.input, e.label) for e in toy_examples(5, seed=5)]
    width = max(len(p) + len(c) for p, c in pairs)
    ids = torch.zeros((len(pairs), width), dtype=torch.long)
    labels = torch.full((len(pairs), width), -100)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    for i, (p, c) in enumerate(pairs):
        ids[i, : len(p) + len(c)] = torch.tensor(p + c)
        labels[i, len(p) : len(p) + len(c)] = torch.tensor(c)
        mask[i, : len(p) + len(c)] = 1
    assert len(set(mask.sum(dim=1).tolist())) > 1  # rows of several lengths: padding to skip
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _lora_model(tiny_model: str) -> Any:
    base, _ = load_base(tiny_model, "cpu")
    torch.manual_seed(0)
    return get_peft_model(
        base, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear", init_lora_weights=False)
    )


@pytest.mark.parametrize("shared", [True, False], ids=["shared-prefix", "no-shared-prefix"])
def test_packed_loss_and_gradients_match_the_plain_loss(tiny_model: str, shared: bool) -> None:
    model = _lora_model(tiny_model)
    batch = _batch(load_tokenizer(tiny_model))
    if not shared:  # a first row that differs from the first token on: nothing to share
        batch["input_ids"][0, 0] = (batch["input_ids"][1, 0] + 1) % model.config.vocab_size
    prefix = shared_prefix_length(batch["input_ids"], batch["attention_mask"])
    assert prefix >= 8 if shared else prefix == 0  # system prompt + framing

    reference = model(**batch).loss
    reference.backward()
    want = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()

    trainer = SimpleNamespace(args=SimpleNamespace(gradient_checkpointing=False), tokens_seen=0)
    loss = CompletionHeadSFTTrainer.compute_loss(trainer, model, batch)  # type: ignore[arg-type]
    loss.backward()
    assert trainer.tokens_seen == int(batch["attention_mask"].sum())
    assert abs(loss.item() - reference.item()) < 1e-5
    assert want
    for name, param in model.named_parameters():
        if name in want:  # equal up to float summation order
            assert (param.grad - want[name]).abs().max() <= 1e-4 * want[name].abs().max(), name


def test_packed_states_are_the_padded_batch_states_without_the_padding(tiny_model: str) -> None:
    model = _lora_model(tiny_model).eval()
    batch = _batch(load_tokenizer(tiny_model))
    causal = model.get_base_model()
    with torch.no_grad():
        plain = backbone_hidden(causal, batch, pack=False)
        packed = backbone_hidden(causal, batch, pack=True)
    real = batch["attention_mask"].bool()
    assert torch.allclose(packed[real], plain[real], atol=1e-5)
    assert not packed[~real].any() and plain[~real].any()  # padding never computed when packed


def test_packed_layout() -> None:
    layout = PackedLayout.of([2, 1], shared=1, device=torch.device("cpu"))
    assert layout.positions.tolist() == [0, 1, 2, 1]  # prefix, tail of row 0, tail of row 1
    assert layout.gather.tolist() == [[0, 1], [2, 2]]  # row 1's padding repeats its first token
    assert layout.scatter.tolist() == [0, 1, 2]
    assert layout.mask[:, 0].int().tolist() == [
        [[1, 1, 0], [1, 1, 1]],  # row 0: the prefix, then its tail causally
        [[1, 1, 0], [1, 1, 0]],  # row 1: one real token; its padded query sees it too, never NaN
    ]


def test_inputs_needed_cuts_after_the_last_input_that_predicts_a_label() -> None:
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    labels = torch.tensor([[-100, -100, 5, 6, -100], [-100, -100, -100, -100, -100]])
    assert inputs_needed(mask, labels).tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0]]


def test_prefix_stops_before_the_shortest_row_ends() -> None:
    ids = torch.tensor([[1, 2, 3], [1, 2, 3]])
    assert shared_prefix_length(ids, torch.ones_like(ids)) == 2
    assert shared_prefix_length(torch.tensor([[1, 2], [3, 2]]), torch.ones(2, 2, dtype=torch.long)) == 0
