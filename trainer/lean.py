"""SFTTrainer with a completion-only LM head, for CPU training.

trl's loss projects every position through the LM head (on CUDA its Triton
kernel keeps only the labelled ones; on the CPU it scores all of them, then
recomputes the projection in backward). For a classification answer of a few
tokens after a prompt of dozens, most of that work is thrown away: the
vocabulary projection is a fifth of SmolLM2's matmul weights. This trainer runs
the backbone, then projects only the positions whose next token is a label.
The loss is the same token-mean negative log-likelihood trl computes.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTTrainer

BACKBONE_INPUTS = ("input_ids", "attention_mask", "position_ids")


class CompletionHeadSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss runs the LM head on completion positions only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens_seen = 0

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        causal = model.get_base_model() if hasattr(model, "get_base_model") else model
        backbone = getattr(causal, causal.base_model_prefix)
        hidden = backbone(**{k: inputs[k] for k in BACKBONE_INPUTS if k in inputs}, use_cache=False)
        targets = inputs["labels"][:, 1:]
        keep = targets != -100
        logits = causal.get_output_embeddings()(hidden.last_hidden_state[:, :-1][keep]).float()
        nll = F.cross_entropy(logits, targets[keep], reduction="sum")
        denominator = keep.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        loss = nll / torch.as_tensor(denominator, device=nll.device)
        if model.training:
            mask = inputs.get("attention_mask")
            self.tokens_seen += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        return (loss, None) if return_outputs else loss
