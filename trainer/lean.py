"""SFTTrainer with a leaner loss for CPU training: the batch packed, the LM head on answers only.

Exact savings for short classification examples, where most tokens are prompt
and the answer is a few tokens:

* the batch runs as one packed row: the shared prompt prefix (system prompt and
  chat framing, the same in every row) once, then every row's tail, unpadded,
  with positions continuing after the prefix. The linear layers see no padding
  and no repeated prefix. Attention reads the packed row back row by row (a
  registered transformers attention function): the prefix causally, each tail
  against the prefix and causally itself, so it costs what the padded batch's
  attention costs, not the square of the packed row. Causal attention makes the
  prefix's states the same in every row, and autograd sums its gradient over
  the rows, so the loss and the gradients are the padded batch's.
* a row's last labeled token, and its padding, feed no loss term (a state
  predicts the next token): they are not computed.
* trl's loss projects every position through the LM head (on CUDA its Triton
  kernel keeps only the labeled ones; on the CPU it scores all of them, then
  recomputes the projection in backward). Here only positions whose next token
  is a label are projected: the vocabulary projection is a fifth of SmolLM2's
  matmul weights.

The loss is the token-mean negative log-likelihood trl computes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTTrainer

BACKBONE_INPUTS = ("input_ids", "attention_mask", "position_ids")
PACKED_ATTENTION = "distillery_packed"
"""The name :func:`packed_attention` is registered under in transformers' ``AttentionInterface``."""


def shared_prefix_length(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> int:
    """Leading tokens identical (and real) in every row, leaving each row at least one of its own.

    >>> ids = torch.tensor([[5, 6, 7, 8, 0], [5, 6, 7, 9, 9]])
    >>> shared_prefix_length(ids, (ids != 0).long())
    3
    """
    same = (input_ids == input_ids[:1]).all(dim=0) & (attention_mask == 1).all(dim=0)
    run = int(same.long().cumprod(dim=0).sum())
    return max(0, min(run, int(attention_mask.sum(dim=1).min()) - 1))


def inputs_needed(attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The attention mask cut after each row's last input that predicts a label.

    A position's state predicts the next token, so a row's last labeled token
    (and anything after it) is input to no loss term; causal attention lets it be
    dropped without changing the other positions. Rows without labels are kept whole.

    >>> inputs_needed(torch.tensor([[1, 1, 1, 1, 0]]), torch.tensor([[-100, -100, 7, 8, -100]])).tolist()
    [[1, 1, 1, 0, 0]]
    """
    span = torch.arange(labels.shape[1], device=labels.device)
    labeled = labels != -100
    last = torch.where(labeled, span, -1).amax(dim=1, keepdim=True)
    return torch.where(labeled.any(dim=1, keepdim=True), attention_mask * (span < last), attention_mask)


def backbone_hidden(causal: Any, inputs: dict[str, Any], *, pack: bool) -> torch.Tensor:
    """Last hidden states of the batch ([batch, length, hidden]); with ``pack``, without the padding.

    Packed, the batch runs as one row: the shared prompt prefix once, then every
    row's tail (see :class:`PackedLayout`). Positions past a row's end (its
    padding) then hold zeros.
    """
    backbone = getattr(causal, causal.base_model_prefix)
    ids, mask = inputs["input_ids"], inputs.get("attention_mask")
    if not pack or mask is None or ids.shape[0] < 2:
        kwargs = {k: inputs[k] for k in BACKBONE_INPUTS if k in inputs}
        return backbone(**kwargs, use_cache=False).last_hidden_state
    shared = shared_prefix_length(ids, mask)
    lengths = (mask.sum(dim=1) - shared).tolist()
    layout = PackedLayout.of(lengths, shared, ids.device)
    flat = torch.cat([ids[0, :shared], *(ids[b, shared : shared + n] for b, n in enumerate(lengths))])
    with _attention(backbone.config, PACKED_ATTENTION):
        out = backbone(
            input_ids=flat[None],
            position_ids=layout.positions[None],
            use_cache=False,
            packed_layout=layout,
        ).last_hidden_state[0]
    tails = torch.zeros((layout.scatter_size, out.shape[-1]), dtype=out.dtype, device=out.device)
    tails = tails.index_copy(0, layout.scatter, out[shared:]).view(ids.shape[0], -1, out.shape[-1])
    hidden = torch.cat([out[:shared].expand(ids.shape[0], -1, -1), tails], dim=1)
    return F.pad(hidden, (0, 0, 0, ids.shape[1] - hidden.shape[1]))  # columns no row reaches


@dataclass(frozen=True)
class PackedLayout:
    """A batch packed as one row, ``[prefix, tail 1, ..., tail n]``, and how attention reads it.

    ``shared`` prefix tokens come first, once; then each row's tail (its tokens
    after the prefix, no padding), with positions continuing from the prefix.
    For attention the tails are put back side by side: ``gather`` [batch, width]
    holds each row's packed tail positions (padded with its first one),
    ``scatter`` each tail token's place in the flattened [batch, width] grid, and
    ``mask`` [batch, 1, width, shared + width] lets a row see the whole prefix and
    its own tail causally. The linear layers so see no padding, and attention
    costs the padded batch's, not the square of the packed row.
    """

    shared: int
    width: int
    positions: torch.Tensor
    gather: torch.Tensor
    scatter: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def of(cls, lengths: list[int], shared: int, device: torch.device) -> PackedLayout:
        """The layout for tails of ``lengths`` (each at least 1) after ``shared`` prefix tokens."""
        width = max(lengths)
        starts = torch.tensor([0, *lengths[:-1]]).cumsum(0)
        span = torch.arange(width)
        real = span[None, :] < torch.tensor(lengths)[:, None]
        gather = torch.where(real, starts[:, None] + span[None, :], starts[:, None])
        scatter = torch.cat([b * width + torch.arange(n) for b, n in enumerate(lengths)])
        positions = torch.cat([torch.arange(shared), *(torch.arange(shared, shared + n) for n in lengths)])
        own = real[:, None, :] & (span[None, None, :] <= span[None, :, None])  # [batch, query, key]
        prefix = torch.ones((len(lengths), width, shared), dtype=torch.bool)
        mask = torch.cat([prefix, own], dim=2)[:, None]
        return cls(shared, width, *(t.to(device) for t in (positions, gather, scatter, mask)))

    @property
    def scatter_size(self) -> int:
        """Places in the flattened [batch, width] grid ``scatter`` indexes."""
        return int(self.gather.shape[0]) * self.width


def packed_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *,
    packed_layout: PackedLayout,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention over a packed row (:class:`PackedLayout`), each tail row by row.

    ``query`` is [1, heads, packed, dim], ``key`` and ``value`` [1, kv_heads,
    packed, dim]. The prefix attends causally to itself; the tails are laid side
    by side as [batch, width] rows that see the prefix and their own tail. Scoring
    every packed query against every packed key under a block mask would cost the
    square of the batch's tokens. Returns [1, packed, heads, dim], as
    transformers' attention functions do.
    """
    layout, shared = packed_layout, packed_layout.shared
    groups = query.shape[1] // key.shape[1]

    def heads(states: torch.Tensor) -> torch.Tensor:  # key/value heads shared by query heads (GQA)
        return states.repeat_interleave(groups, dim=1) if groups > 1 else states

    def rows(states: torch.Tensor) -> torch.Tensor:  # [1, h, packed, d] -> [batch, h, width, d]
        return states[0][:, shared + layout.gather].transpose(0, 1)

    def with_prefix(states: torch.Tensor) -> torch.Tensor:
        tails = rows(states)
        return heads(torch.cat([states[:, :, :shared].expand(tails.shape[0], -1, -1, -1), tails], dim=2))

    tails = F.scaled_dot_product_attention(
        rows(query),
        with_prefix(key),
        with_prefix(value),
        attn_mask=layout.mask,
        dropout_p=dropout,
        scale=scaling,
    )  # [batch, heads, width, dim]
    out = tails.transpose(1, 2).reshape(-1, tails.shape[1], tails.shape[3])[layout.scatter]
    if shared:
        head = F.scaled_dot_product_attention(
            query[:, :, :shared],
            heads(key[:, :, :shared]),
            heads(value[:, :, :shared]),
            dropout_p=dropout,
            scale=scaling,
            is_causal=True,
        )  # [1, heads, shared, dim]
        out = torch.cat([head[0].transpose(0, 1), out])
    return out[None], None


@contextmanager
def _attention(config: Any, name: str) -> Iterator[None]:
    """The model's attention implementation set to ``name`` for one call (registered on first use).

    transformers builds no mask for an implementation it has no mask function
    for, so the packed row's attention takes its layout from the call's kwargs.
    """
    from transformers import AttentionInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if name not in ALL_ATTENTION_FUNCTIONS:
        AttentionInterface.register(name, packed_attention)
    before = config._attn_implementation
    config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = before


class CompletionHeadSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss packs the batch (shared prefix once) and projects answer positions only."""

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
        mask = inputs.get("attention_mask")
        if mask is not None:  # drop what feeds no loss term: the last labeled token, any padding
            inputs = {**inputs, "attention_mask": inputs_needed(mask, inputs["labels"])}
        # packing is untried under gradient checkpointing, which the CPU defaults leave off
        hidden = backbone_hidden(causal, inputs, pack=not self.args.gradient_checkpointing)
        targets = inputs["labels"][:, 1:]
        keep = targets != -100
        logits = causal.get_output_embeddings()(hidden[:, :-1][keep]).float()
        nll = F.cross_entropy(logits, targets[keep], reduction="sum")
        denominator = keep.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        loss = nll / torch.as_tensor(denominator, device=nll.device)
        if model.training:
            self.tokens_seen += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        return (loss, None) if return_outputs else loss
