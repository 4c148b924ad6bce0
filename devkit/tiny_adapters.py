"""Random LoRA adapters and a toy task: real adapters in a second, for tests and the benchmark.

Serving does not care how an adapter was trained, only that it loads like one
and changes the answers. An untrained LoRA with random ``B`` matrices (peft's
``init_lora_weights=False``) is exactly that, with no training run: the same
base and seed give the same weights, so tests make exact assertions. The toy
task (three labels, each keyed by two words) runs on
:func:`devkit.tiny_student.build_tiny_model`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from distillery.taskspec import RoutingSpec, StudentSpec, TaskSpec

TOY_KEYWORDS = {"fruit": ("apple", "pear"), "metal": ("iron", "gold"), "bird": ("crow", "swan")}
TOY_LABELS = list(TOY_KEYWORDS)
TOY_PROMPT = "Label it."


def toy_texts(n: int, seed: int) -> list[str]:
    """``n`` seeded toy inputs such as ``"pear 318"``."""
    rng = random.Random(seed)
    return [f"{rng.choice(TOY_KEYWORDS[TOY_LABELS[i % 3]])} {rng.randint(0, 999)}" for i in range(n)]


def toy_spec(name: str = "toy", *, ood_escalates: bool = True, target_accuracy: float = 0.9) -> TaskSpec:
    """A three-label classification task for the toy inputs."""
    return TaskSpec(name=name, kind="classification", labels=TOY_LABELS,
                    student=StudentSpec(system_prompt=TOY_PROMPT),
                    routing=RoutingSpec(target_accuracy=target_accuracy, ood_escalates=ood_escalates))


def random_adapters(base_path: str, folder: Path, seeds: Sequence[int], *, r: int = 4, scale: float = 0.2,
                    target_modules: str | list[str] = "all-linear") -> list[Path]:
    """Save one random LoRA adapter per seed under ``folder/seed-<n>``; return their folders.

    ``scale`` multiplies the random ``B`` matrices: below 1 the adapter nudges the
    base model's answers instead of overwhelming them.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    from trainer.loading import load_base

    model, _ = load_base(base_path, "cpu")
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        config = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=target_modules,
                            init_lora_weights=False)
        peft_model = get_peft_model(model, config)
        with torch.no_grad():
            for name, param in peft_model.named_parameters():
                if "lora_B" in name:
                    param.mul_(scale)
        target = Path(folder) / f"seed-{seed}"
        peft_model.save_pretrained(str(target))
        model = peft_model.unload()  # the base again, without LoRA layers, for the next seed
        out.append(target)
    return out
