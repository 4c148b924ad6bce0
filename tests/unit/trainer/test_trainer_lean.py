"""The CPU loss: sharing the prompt prefix and projecting answers only changes nothing but speed."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from trainer_toy import SYSTEM_PROMPT, toy_examples

from trainer.data import encode
from trainer.lean import backbone_hidden, shared_prefix_length
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
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_shared_prefix_loss_and_gradients_match_the_plain_loss(tiny_model: str) -> None:
    tokenizer = load_tokenizer(tiny_model)
    base, _ = load_base(tiny_model, "cpu")
    torch.manual_seed(0)
    model: Any = get_peft_model(
        base, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear", init_lora_weights=False)
    )
    batch = _batch(tokenizer)
    assert shared_prefix_length(batch["input_ids"], batch["attention_mask"]) >= 8  # system prompt + framing

    reference = model(**batch).loss
    reference.backward()
    want = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()

    causal = model.get_base_model()
    hidden = backbone_hidden(causal, batch, share_prefix=True)
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    loss = F.cross_entropy(causal.get_output_embeddings()(hidden[:, :-1][keep]), targets[keep])
    loss.backward()
    assert abs(loss.item() - reference.item()) < 1e-5
    for name, param in model.named_parameters():
        if name in want:  # equal up to float summation order
            assert (param.grad - want[name]).abs().max() <= 1e-4 * want[name].abs().max(), name


def test_prefix_stops_before_the_shortest_row_ends() -> None:
    ids = torch.tensor([[1, 2, 3], [1, 2, 3]])
    assert shared_prefix_length(ids, torch.ones_like(ids)) == 2
    assert shared_prefix_length(torch.tensor([[1, 2], [3, 2]]), torch.ones(2, 2, dtype=torch.long)) == 0
