"""Classification by likelihood: the model scores every label, it never free-generates.

For each input, the log-probability of each label's completion tokens (the
answer plus end-of-turn, exactly as trained) given the chat prompt; a softmax
over the label set gives the predicted label and a confidence. One forward pass
scores every label of a batch of inputs: each row holds the prompt once,
followed by all label continuations side by side, and a tree-shaped attention
mask lets each continuation see the prompt and itself only (positions restart
after the prompt for each). Only the positions that predict a label token go
through the LM head, so the vocabulary projection stays small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from distillery.errors import TrainingError
from trainer.data import encode, encode_prompt

FLASH_IMPLEMENTATIONS = ("flash_attention_2", "flash_attention_3", "flex_attention")


@dataclass(frozen=True)
class LabelScore:
    """The scored label set for one input."""

    label: str
    confidence: float
    probs: tuple[float, ...]
    """Probability of each label, in the order the labels were given."""


def label_completions(
    tokenizer: Any, labels: Sequence[str], system_prompt: str, probe: str
) -> list[list[int]]:
    """Completion token ids of every label, rendered after a probe prompt.

    A chat template renders the assistant turn the same way whatever the user
    said, so these ids serve every input.
    """
    out = []
    for label in labels:
        ids = encode(tokenizer, system_prompt, probe, label)[1]
        if not ids:
            raise TrainingError(f"labels: label {label!r} tokenises to nothing after the prompt; rename it")
        out.append(ids)
    return out


def score_labels(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    system_prompt: str,
    *,
    batch_size: int = 8,
) -> list[LabelScore]:
    """Score ``labels`` for every text; return the most likely label and its probability."""
    import torch

    if not texts:
        return []
    if len(labels) < 2:
        raise TrainingError(f"labels: scoring needs at least two labels, got {list(labels)!r}")
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    implementation = getattr(causal.config, "_attn_implementation", None)
    if implementation in FLASH_IMPLEMENTATIONS:
        raise TrainingError(
            f"attn_implementation: {implementation} ignores the tree mask label scoring needs; "
            "load the model with sdpa or eager"
        )
    completions = label_completions(tokenizer, labels, system_prompt, texts[0])
    was_training = model.training
    if was_training:  # a served model is already in eval mode: walking every module again costs a few ms an answer
        model.eval()
    try:
        with torch.inference_mode():
            out: list[LabelScore] = []
            for start in range(0, len(texts), batch_size):
                prompts = [
                    encode_prompt(tokenizer, system_prompt, t) for t in texts[start : start + batch_size]
                ]
                logps = _batch_logprobs(causal, tokenizer, prompts, completions)
                out.extend(_to_score(row, labels) for row in logps.tolist())
            return out
    finally:
        if was_training:
            model.train()


def _batch_logprobs(
    causal: Any, tokenizer: Any, prompts: list[list[int]], completions: list[list[int]]
) -> Any:
    """[batch, labels] log-probability of each label's completion after each prompt."""
    import torch

    backbone = getattr(causal, causal.base_model_prefix)
    lm_head = causal.get_output_embeddings()
    device = lm_head.weight.device
    dtype = backbone.get_input_embeddings().weight.dtype
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        dtype = torch.bfloat16
    tail = [tok for ids in completions for tok in ids]
    width = max(len(p) for p in prompts) + len(tail)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    positions = torch.zeros((len(prompts), width), dtype=torch.long)
    allowed = torch.eye(width, dtype=torch.bool).repeat(
        len(prompts), 1, 1
    )  # pads see themselves: no empty rows
    sources = torch.zeros((len(prompts), len(tail)), dtype=torch.long)
    for b, prompt in enumerate(prompts):
        n = len(prompt)
        input_ids[b, : n + len(tail)] = torch.tensor(prompt + tail)
        positions[b, :n] = torch.arange(n)
        allowed[b, :n, :n] = torch.ones(n, n, dtype=torch.bool).tril()
        cursor, k = n, 0
        for ids in completions:
            m = len(ids)
            positions[b, cursor : cursor + m] = torch.arange(n, n + m)
            allowed[b, cursor : cursor + m, :n] = True
            allowed[b, cursor : cursor + m, cursor : cursor + m] = torch.ones(m, m, dtype=torch.bool).tril()
            # token t of a label is predicted by the hidden state before it: the prompt's last, then its own
            sources[b, k : k + m] = torch.tensor([n - 1] + list(range(cursor, cursor + m - 1)))
            cursor, k = cursor + m, k + m
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)[:, None]
    hidden = backbone(
        input_ids=input_ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device)
    ).last_hidden_state
    targets = torch.tensor(tail, device=device)
    segment = torch.repeat_interleave(
        torch.arange(len(completions)), torch.tensor([len(ids) for ids in completions])
    ).to(device)
    rows = []
    for b in range(len(prompts)):  # one row at a time keeps the [tokens, vocab] logits small
        logits = lm_head(hidden[b, sources[b].to(device)]).float()
        token_logps = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]
        rows.append(torch.zeros(len(completions), device=device).index_add(0, segment, token_logps))
    return torch.stack(rows).cpu()


def _to_score(logps: list[float], labels: Sequence[str]) -> LabelScore:
    top = max(logps)
    weights = [math.exp(x - top) for x in logps]
    total = sum(weights)
    probs = tuple(w / total for w in weights)
    best = max(range(len(labels)), key=lambda i: (probs[i], -i))
    return LabelScore(label=labels[best], confidence=probs[best], probs=probs)
