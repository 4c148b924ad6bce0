"""The prompt's shared prefix computed once per served adapter, not once per answer.

Every classification prompt of a task starts with the same tokens: the chat
framing and the system prompt (which names the label set, so it is most of the
prompt for a short input). A served adapter's weights never change, so the
keys and values its layers compute for that prefix never change either: they
are computed on the first answer and reused, and each request then runs the
backbone over its own tokens only (the user's text and the generation prompt).
On the CPU that is the difference between a forward pass over a few hundred
tokens and one over a few dozen.

Only frozen weights may use a cache: the trainer, whose weights move, never
does. A row that does not start with the cached prefix (a prompt cut to fit
``max_length``, a tokenizer merging across the boundary) runs whole, so the
cache changes the cost of an answer, never the answer beyond float rounding.

>>> common_prefix([[1, 2, 3, 9], [1, 2, 4]])
2
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

PROBES = ("a", "Z 9")
"""Two inputs that share no first character: their prompts agree exactly on the prefix before the text."""


def common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """How many leading ids every row shares."""
    n = min(len(r) for r in rows)
    for i in range(n):
        if any(r[i] != rows[0][i] for r in rows[1:]):
            return i
    return n


@dataclass(frozen=True)
class CachedPrefix:
    """One prompt prefix's ids and every layer's keys and values for it ([1, kv_heads, len, dim])."""

    system_prompt: str
    ids: tuple[int, ...]
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]

    def covers(self, row: Sequence[int]) -> bool:
        """True when ``row`` starts with the prefix and has at least one token of its own."""
        n = len(self.ids)
        return len(row) > n and tuple(row[:n]) == self.ids


class PrefixCache:
    """The shared prefix of one adapter's prompts, filled on first use (thread-safe)."""

    def __init__(self) -> None:
        self._entry: CachedPrefix | None = None
        self._lock = threading.Lock()

    def get(self, causal: Any, encode: Any, system_prompt: str) -> CachedPrefix | None:
        """The cached prefix for ``system_prompt``, computing it with ``causal`` the first time.

        ``encode(system_prompt, text)`` gives a prompt's ids. Returns None when
        the prompts share no prefix worth caching.
        """
        entry = self._entry
        if entry is not None and entry.system_prompt == system_prompt:
            return entry
        with self._lock:
            if self._entry is None or self._entry.system_prompt != system_prompt:
                self._entry = _compute(causal, encode, system_prompt)
            return self._entry if self._entry.ids else None


def _compute(causal: Any, encode: Any, system_prompt: str) -> CachedPrefix:
    probes = [encode(system_prompt, p) for p in PROBES]
    ids = probes[0][: common_prefix(probes)]
    if not ids:
        return CachedPrefix(system_prompt, (), ())
    backbone = getattr(causal, causal.base_model_prefix)
    device = next(causal.parameters()).device
    with torch.inference_mode():
        out = backbone(input_ids=torch.tensor([ids], device=device), use_cache=True)
    cache = out.past_key_values
    layers = tuple((layer.keys, layer.values) for layer in cache.layers)
    return CachedPrefix(system_prompt, tuple(ids), layers)


def last_states_after(causal: Any, prefix: CachedPrefix, rows: Sequence[Sequence[int]], pad_id: int) -> torch.Tensor:
    """[batch, hidden]: each row's last state, the backbone run over its tokens after ``prefix`` only.

    Every row must be covered by the prefix (:meth:`CachedPrefix.covers`).
    Tails are right-padded; positions continue after the prefix, and each tail
    attends to the whole prefix and causally to itself.
    """
    from transformers import DynamicCache

    n, batch = len(prefix.ids), len(rows)
    tails = [list(r[n:]) for r in rows]
    width = max(len(t) for t in tails)
    backbone = getattr(causal, causal.base_model_prefix)
    device = prefix.layers[0][0].device
    ids = torch.full((batch, width), pad_id, dtype=torch.long)
    mask = torch.zeros((batch, n + width), dtype=torch.long)
    mask[:, :n] = 1
    for i, tail in enumerate(tails):
        ids[i, : len(tail)] = torch.tensor(tail, dtype=torch.long)
        mask[i, n : n + len(tail)] = 1
    past = DynamicCache(ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                                        for k, v in prefix.layers], config=causal.config)
    positions = torch.arange(n, n + width, device=device)[None].expand(batch, -1)
    kwargs: dict[str, Any] = {"attention_mask": mask.to(device)} if batch > 1 else {}
    out = backbone(input_ids=ids.to(device), position_ids=positions, past_key_values=past, use_cache=True,
                   **kwargs).last_hidden_state
    last = torch.tensor([len(t) - 1 for t in tails], device=device)
    return out[torch.arange(batch, device=device), last]
