"""The trainer tests' toy task: three labels, each keyed by two words."""

from __future__ import annotations

import random

from distillery.taskspec import StudentSpec, TaskSpec
from trainer.data import Example

KEYWORDS = {"fruit": ("apple", "pear"), "metal": ("iron", "gold"), "bird": ("crow", "swan")}
LABELS = list(KEYWORDS)
SYSTEM_PROMPT = "Label it."


def toy_examples(n: int, seed: int, only: str | None = None) -> list[Example]:
    """``n`` seeded toy rows; with ``only``, every row carries that label."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        text = f"{rng.choice(KEYWORDS[label])} {rng.randint(0, 999)}"
        rows.append(Example(f"{seed}-{i}", text, only or label, label))
    return rows


def toy_spec(**sft: object) -> TaskSpec:
    return TaskSpec(
        name="toy",
        kind="classification",
        labels=LABELS,
        student=StudentSpec(system_prompt=SYSTEM_PROMPT),
        lora={"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear"},
        sft={
            "learning_rate": 1e-2,
            "num_train_epochs": 4,
            "per_device_train_batch_size": 8,
            "max_length": 64,
            **sft,
        },
    )
