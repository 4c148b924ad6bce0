"""Training on the tiny model: the loss falls, only LoRA weights move, the adapter round-trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from trainer_toy import LABELS, SYSTEM_PROMPT, toy_examples, toy_spec
from transformers import TrainerCallback

from distillery.errors import ConfigError
from distillery.events import TrainingSummary
from trainer.configs import lora_config, sft_config
from trainer.loading import load_tokenizer, load_with_adapter
from trainer.scoring import score_labels
from trainer.train import TrainResult, train_adapter

GOLD = toy_examples(12, seed=2)


class Capture(TrainerCallback):  # type: ignore[misc]
    """Copies of every weight before and after training, and the trained model's scores."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.before: dict[str, torch.Tensor] = {}
        self.after: dict[str, torch.Tensor] = {}
        self.trainable: set[str] = set()
        self.scores: list[Any] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        self.before = {k: v.detach().clone() for k, v in model.named_parameters()}

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        self.after = {k: v.detach().clone() for k, v in model.named_parameters()}
        self.trainable = {k for k, v in model.named_parameters() if v.requires_grad}
        self.scores = score_labels(model, self.tokenizer, [g.input for g in GOLD], LABELS, SYSTEM_PROMPT)


@pytest.fixture(scope="module")
def trained(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Capture]:
    """One adapter taught to answer "metal" to everything (a mapping the random base lacks)."""
    capture = Capture(load_tokenizer(tiny_model))
    out = tmp_path_factory.mktemp("adapter")
    result = train_adapter(
        tiny_model, toy_examples(48, seed=1, only="metal"), toy_spec(), out, device="cpu", callbacks=[capture]
    )
    return result, capture


def test_loss_falls_and_the_result_maps_to_the_event(trained: tuple[TrainResult, Capture]) -> None:
    result, _ = trained
    losses = [loss for _, loss in result.losses]
    assert result.steps == 24 and len(losses) == 24  # 48 rows / batch 8 x 4 epochs, logged every step
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4
    summary = result.summary()
    assert isinstance(summary, TrainingSummary)
    assert (summary.device, summary.quantization, summary.train_examples) == ("cpu", "none", 48)
    assert summary.first_loss == losses[0] and summary.final_loss == losses[-1]
    assert summary.tokens > 48 * 4 * 10 and summary.seconds > 0


def test_adapter_folder_is_peft_format_with_a_loss_curve(trained: tuple[TrainResult, Capture]) -> None:
    result, _ = trained
    names = {p.name for p in Path(result.adapter_dir).iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "loss.json", "loss.svg"} <= names


def test_only_lora_weights_move(trained: tuple[TrainResult, Capture]) -> None:
    _, cap = trained
    assert cap.trainable and all("lora_" in k for k in cap.trainable)
    frozen = [k for k in cap.before if k not in cap.trainable]
    assert frozen and all(torch.equal(cap.before[k], cap.after[k]) for k in frozen)
    lora_b = [k for k in cap.trainable if "lora_B" in k]
    assert all(not cap.before[k].any() for k in lora_b)  # peft starts B at zero...
    assert all(cap.after[k].any() for k in lora_b)  # ...and training moved every one


def test_adapter_changes_the_answers(tiny_model: str, trained: tuple[TrainResult, Capture]) -> None:
    result, _ = trained
    tokenizer = load_tokenizer(tiny_model)
    texts = [g.input for g in GOLD]
    base = score_labels(load_with_adapter(tiny_model, None, "cpu"), tokenizer, texts, LABELS, SYSTEM_PROMPT)
    tuned = score_labels(
        load_with_adapter(tiny_model, result.adapter_dir, "cpu"), tokenizer, texts, LABELS, SYSTEM_PROMPT
    )
    assert sum(s.label == "metal" for s in base) < len(texts) // 2
    assert [s.label for s in tuned] == ["metal"] * len(texts)
    assert min(s.confidence for s in tuned) > 0.9


def test_saved_adapter_reloads_with_the_same_scores(
    tiny_model: str, trained: tuple[TrainResult, Capture]
) -> None:
    result, cap = trained
    reloaded = load_with_adapter(tiny_model, result.adapter_dir, "cpu")
    scores = score_labels(
        reloaded, load_tokenizer(tiny_model), [g.input for g in GOLD], LABELS, SYSTEM_PROMPT
    )
    assert [s.label for s in scores] == [s.label for s in cap.scores]
    assert torch.allclose(
        torch.tensor([s.probs for s in scores]), torch.tensor([s.probs for s in cap.scores]), atol=1e-5
    )


def test_a_bad_lora_key_fails_naming_it() -> None:
    spec = toy_spec().model_copy(update={"lora": {"r": 8, "lora_alpah": 16}})
    with pytest.raises(ConfigError, match=r"tasks\.toy\.lora.*'lora_alpah'.*did you mean 'lora_alpha'"):
        lora_config(spec)
    spec = toy_spec().model_copy(update={"lora": {"rank": 8}})
    with pytest.raises(ConfigError, match=r"tasks\.toy\.lora.*unknown key 'rank' for LoraConfig"):
        lora_config(spec)


def test_a_bad_sft_key_fails_naming_it(tmp_path: Path) -> None:
    spec = toy_spec(learnin_rate=0.1)
    with pytest.raises(ConfigError, match=r"tasks\.toy\.sft.*'learnin_rate'.*did you mean 'learning_rate'"):
        sft_config(spec, tmp_path, device="cpu")


def test_a_bad_sft_value_fails_naming_the_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tasks\.toy\.sft.*SFTConfig refused"):
        sft_config(toy_spec(lr_scheduler_type="zigzag"), tmp_path, device="cpu")


def test_cpu_defaults_and_spec_overrides(tmp_path: Path) -> None:
    args = sft_config(toy_spec(logging_steps=5), tmp_path, device="cpu")
    assert (args.bf16, args.gradient_checkpointing, args.logging_steps, args.save_strategy) == (
        False,
        False,
        5,
        "no",
    )
    assert args.output_dir == str(tmp_path) and args.learning_rate == 1e-2
    assert lora_config(toy_spec()).r == 8
