"""SFTTrainer with a leaner loss for CPU training: shared prefix once, LM head on answers only.

Two exact savings for short classification examples, where most tokens are
prompt and the answer is a few tokens:

* every example starts with the same system prompt and chat framing. That
  shared prefix goes through the model once per batch, as one row; its keys and
  values are repeated for the batch and the rest of each row attends to them.
  Causal attention makes the prefix's states the same in every row, and
  autograd sums its gradient over the rows, so the loss and the gradients are
  those of the full batch.
* trl's loss projects every position through the LM head (on CUDA its Triton
  kernel keeps only the labelled ones; on the CPU it scores all of them, then
  recomputes the projection in backward). Here only positions whose next token
  is a label are projected: the vocabulary projection is a fifth of SmolLM2's
  matmul weights.

The loss is the token-mean negative log-likelihood trl computes.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTTrainer

BACKBONE_INPUTS = ("input_ids", "attention_mask", "position_ids")
MIN_SHARED_PREFIX = 4
"""Below this many shared tokens the second forward call costs more than it saves."""


def shared_prefix_length(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> int:
    """Leading tokens identical (and real) in every row, leaving each row at least one of its own.

    >>> ids = torch.tensor([[5, 6, 7, 8, 0], [5, 6, 7, 9, 9]])
    >>> shared_prefix_length(ids, (ids != 0).long())
    3
    """
    same = (input_ids == input_ids[:1]).all(dim=0) & (attention_mask == 1).all(dim=0)
    run = int(same.long().cumprod(dim=0).sum())
    return max(0, min(run, int(attention_mask.sum(dim=1).min()) - 1))


def backbone_hidden(causal: Any, inputs: dict[str, Any], *, share_prefix: bool) -> torch.Tensor:
    """Last hidden states of the batch, computing a shared prompt prefix once."""
    backbone = getattr(causal, causal.base_model_prefix)
    ids, mask = inputs["input_ids"], inputs.get("attention_mask")
    shared = shared_prefix_length(ids, mask) if share_prefix and mask is not None and ids.shape[0] > 1 else 0
    if shared < MIN_SHARED_PREFIX:
        kwargs = {k: inputs[k] for k in BACKBONE_INPUTS if k in inputs}
        return backbone(**kwargs, use_cache=False).last_hidden_state
    head = backbone(input_ids=ids[:1, :shared], use_cache=True)
    cache = head.past_key_values
    cache.batch_repeat_interleave(ids.shape[0])
    tail = backbone(input_ids=ids[:, shared:], attention_mask=mask, past_key_values=cache, use_cache=True)
    prefix = head.last_hidden_state.expand(ids.shape[0], -1, -1)
    return torch.cat([prefix, tail.last_hidden_state], dim=1)


class CompletionHeadSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss shares the prompt prefix and projects answer positions only."""

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
        # gradient checkpointing turns the cache off, and the suffix pass needs it
        hidden = backbone_hidden(causal, inputs, share_prefix=not self.args.gradient_checkpointing)
        targets = inputs["labels"][:, 1:]
        keep = targets != -100
        logits = causal.get_output_embeddings()(hidden[:, :-1][keep]).float()
        nll = F.cross_entropy(logits, targets[keep], reduction="sum")
        denominator = keep.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        loss = nll / torch.as_tensor(denominator, device=nll.device)
        if model.training:
            mask = inputs.get("attention_mask")
            self.tokens_seen += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        return (loss, None) if return_outputs else loss
