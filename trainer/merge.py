"""A classifier-head adapter as it answers on the CPU: its LoRA weights merged into a copy of the base.

peft's unmerged LoRA layers run two more small matmuls beside every linear
layer; for a lone answer of a few dozen tokens that is about a third of the
pass. Merged weights give the same answers within float rounding (confidences
within 1e-6), so the gate judges, and the router serves, the merged model.
On CUDA the base is 4-bit and is never merged (rounding the merged weights to
4 bits would change answers).

Dynamic int8 quantisation of the merged weights was measured too and is not
offered: a lone answer was about a quarter cheaper, but the demo's promoted
adapter fell from 78.4% to 39.4% on its gold set (activations quantised with one
scale per pass; this model's outlier features do not survive it).

>>> from torch import nn
>>> merged_for_cpu(nn.Sequential(nn.Linear(2, 2))).training
False
"""

from __future__ import annotations

from typing import Any


def merged_for_cpu(model: Any) -> Any:
    """``model`` (peft-wrapped or bare) with its adapter's weights merged in, in eval mode."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model.eval()
