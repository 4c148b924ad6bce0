"""A job starts from the served adapter's weights when they fit, and from the base model when they do not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from trainer_toy import LABELS, toy_examples, toy_spec

from trainer.head import HEAD_WEIGHTS
from trainer.head_train import train_head_adapter
from trainer.train import TrainResult


@pytest.fixture(scope="module")
def served(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    out = tmp_path_factory.mktemp("served") / "adapter"
    result = train_head_adapter(tiny_model, toy_examples(48, seed=1), toy_spec(num_train_epochs=6), out,
                                device="cpu", progress=False)
    return out, result


def test_a_warm_start_begins_where_the_served_adapter_ended(
        tiny_model: str, served: tuple[Path, TrainResult], tmp_path: Path) -> None:
    folder, first = served
    spec = toy_spec(num_train_epochs=1)
    warm = train_head_adapter(tiny_model, toy_examples(48, seed=4), spec, tmp_path / "warm", device="cpu",
                              progress=False, start_from=folder)
    cold = train_head_adapter(tiny_model, toy_examples(48, seed=4), spec, tmp_path / "cold", device="cpu",
                              progress=False)
    assert warm.warm_started and not cold.warm_started
    # a warm start continues at the scaled-down rate; the event says which rate each job trained at
    rate = float(spec.sft["learning_rate"]) if "learning_rate" in spec.sft else 5e-5
    assert cold.learning_rate == pytest.approx(rate)
    assert warm.learning_rate == pytest.approx(rate * spec.student.warm_start_lr_scale)
    assert warm.summary().learning_rate == warm.learning_rate
    assert first.first_loss is not None and first.final_loss is not None
    assert warm.first_loss is not None and cold.first_loss is not None
    # the first batch of the warm run already scores like the served adapter's last ones, the cold one like a start
    assert warm.first_loss < 0.5 * cold.first_loss
    assert warm.first_loss < 0.5 * first.first_loss
    # the served folder is read, never written
    before = load_file(str(folder / HEAD_WEIGHTS))
    after_warm = load_file(str(tmp_path / "warm" / HEAD_WEIGHTS))
    assert not torch.equal(before["weight"], after_warm["weight"])  # it trained on from there
    assert torch.equal(before["weight"], load_file(str(folder / HEAD_WEIGHTS))["weight"])


@pytest.mark.parametrize("change, why", [
    ({"labels": [*reversed(LABELS)]}, "its label set differs"),
    ({"lora": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"}},
     "its LoRA layers differ"),
])
def test_an_adapter_that_does_not_fit_is_not_started_from_and_the_log_says_why(
        tiny_model: str, served: tuple[Path, TrainResult], tmp_path: Path, caplog: pytest.LogCaptureFixture,
        change: dict[str, object], why: str) -> None:
    folder, _ = served
    spec = toy_spec(num_train_epochs=1).model_copy(update=change)
    with caplog.at_level(logging.WARNING, logger="trainer.head_train"):
        result = train_head_adapter(tiny_model, toy_examples(24, seed=4), spec, tmp_path / "a", device="cpu",
                                    progress=False, start_from=folder)
    assert not result.warm_started
    assert result.learning_rate == pytest.approx(float(spec.sft.get("learning_rate", 5e-5)))
    assert any(why in r.getMessage() and "from the base model" in r.getMessage() for r in caplog.records)
