"""SFTTrainer with a leaner loss for CPU training: shared prefix once, LM head on answers only.

Two exact savings for short classification examples, where most tokens are
prompt and the answer is a few tokens:

* every example starts with the same system prompt and chat framing. That
  shared prefix goes through the model once per batch, as one row. The rows'
  tails then run as one unpadded row that attends to the prefix's cached keys
  and values, each tail causally to itself only (a block mask, positions
  continuing after the prefix). Causal attention makes the prefix's states the
  same in every row, and autograd sums its gradient over the rows, so the loss
  and the gradients are those of the padded batch, without the repeated prefix
  or the padding.
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
    """Last hidden states of the batch ([batch, length, hidden]), computing a shared prompt prefix once.

    Positions past a row's end (its padding) hold zeros when the prefix is shared.
    """
    backbone = getattr(causal, causal.base_model_prefix)
    ids, mask = inputs["input_ids"], inputs.get("attention_mask")
    shared = shared_prefix_length(ids, mask) if share_prefix and mask is not None and ids.shape[0] > 1 else 0
    if shared < MIN_SHARED_PREFIX or mask is None:
        kwargs = {k: inputs[k] for k in BACKBONE_INPUTS if k in inputs}
        return backbone(**kwargs, use_cache=False).last_hidden_state
    head = backbone(input_ids=ids[:1, :shared], use_cache=True)
    prefix = head.last_hidden_state.expand(ids.shape[0], -1, -1)
    return torch.cat([prefix, _packed_tails(backbone, ids, mask, shared, head.past_key_values)], dim=1)


def _packed_tails(
    backbone: Any, ids: torch.Tensor, mask: torch.Tensor, shared: int, cache: Any
) -> torch.Tensor:
    """Every row's tail after the shared prefix, run as one unpadded row; back as [batch, tail, hidden].

    Each tail attends to the prefix's cached keys and causally to itself only (a
    block mask), with positions continuing from the prefix, so the states are the
    padded batch's, without computing the padding.
    """
    lengths = (mask.sum(dim=1) - shared).tolist()
    total = int(sum(lengths))
    flat = torch.cat([ids[b, shared : shared + n] for b, n in enumerate(lengths)])[None]
    positions = torch.cat([torch.arange(shared, shared + n) for n in lengths])[None].to(ids.device)
    embed = backbone.get_input_embeddings().weight
    allowed = torch.zeros((total, shared + total), dtype=torch.bool)
    allowed[:, :shared] = True
    start = 0
    for n in lengths:
        causal = torch.ones(n, n, dtype=torch.bool).tril()
        allowed[start : start + n, shared + start : shared + start + n] = causal
        start += n
    block = torch.zeros(allowed.shape, dtype=embed.dtype).masked_fill(~allowed, torch.finfo(embed.dtype).min)
    out = backbone(
        input_ids=flat,
        attention_mask=block[None, None].to(ids.device),
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state[0]
    width = ids.shape[1] - shared
    rows = torch.zeros((ids.shape[0], width, out.shape[-1]), dtype=out.dtype, device=out.device)
    index = torch.cat([b * width + torch.arange(n) for b, n in enumerate(lengths)]).to(out.device)
    return rows.view(-1, out.shape[-1]).index_copy(0, index, out).view(ids.shape[0], width, -1)


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
