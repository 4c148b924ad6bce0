"""Loading a base model (4-bit NF4 on CUDA, fp32 on the CPU) and its adapters.

QLoRA recipe on CUDA: NF4 weights with double quantisation and bf16 compute,
then peft's ``prepare_model_for_kbit_training``. Without CUDA nothing is
quantised (bitsandbytes 4-bit needs a GPU): plain LoRA on fp32 weights.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from distillery.errors import ConfigError

log = logging.getLogger(__name__)

Quantization = Literal["nf4", "none"]


def resolve_device(setting: str) -> str:
    """``cuda`` or ``cpu`` for the trainer's ``device`` setting (``auto``, ``cuda`` or ``cpu``)."""
    import torch

    if setting not in ("auto", "cuda", "cpu"):
        raise ConfigError(f"device: expected auto, cuda or cpu, got {setting!r}", key="trainer")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device: 'cuda' asked for but torch sees no CUDA device; use auto or cpu", key="trainer"
        )
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def load_tokenizer(path: str) -> Any:
    """The tokenizer, with a pad token (the EOS one when it has none) and right padding."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def nf4_config() -> Any:
    """QLoRA's 4-bit quantisation of the frozen base: NF4, double-quantised, bf16 compute."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def load_base(
    path: str, device: str, *, for_training: bool = False, gradient_checkpointing: bool = True
) -> tuple[Any, Quantization]:
    """The base model on ``device``: 4-bit NF4 on CUDA, fp32 on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    if device == "cuda":
        model = AutoModelForCausalLM.from_pretrained(
            path,
            quantization_config=nf4_config(),
            dtype=torch.bfloat16,
            device_map={"": 0},
            attn_implementation="sdpa",
        )
        if for_training:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
        return model, "nf4"
    if for_training:
        log.warning("no CUDA device: training plain LoRA in fp32 on the CPU, without 4-bit quantisation")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    return model, "none"


def load_with_adapter(base_path: str, adapter_dir: Path | str | None, device: str) -> Any:
    """The base model with a saved adapter applied (or none), ready for scoring."""
    from peft import PeftModel

    model, _ = load_base(base_path, device)
    if adapter_dir is not None:
        loader: Any = PeftModel  # peft's decorator hides the classmethod's signature from mypy
        model = loader.from_pretrained(model, str(adapter_dir))
    return model.eval()
