"""Train one LoRA (QLoRA on CUDA) adapter with trl's SFTTrainer.

The adapter is saved in peft's own format (``adapter_config.json`` +
``adapter_model.safetensors``) with its loss curve beside it; the result maps
onto :class:`distillery.events.TrainingSummary` for the published event.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillery.errors import TrainingError
from distillery.events import TrainingSummary
from distillery.taskspec import TaskSpec
from trainer.configs import budgeted, lora_config, sft_config
from trainer.curve import write_loss_curve
from trainer.data import Example, sft_dataset
from trainer.loading import Quantization, load_base, load_tokenizer, resolve_device
from trainer.progress import use_loss_bar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Where the adapter is and how its training went."""

    adapter_dir: Path
    device: str
    quantization: Quantization
    steps: int
    train_examples: int
    tokens: int
    seconds: float
    losses: tuple[tuple[int, float], ...] = ()
    curve_files: tuple[Path, ...] = field(default=())
    warm_started: bool = False
    """Whether training started from a served adapter's weights rather than from the base model."""
    learning_rate: float | None = None
    """The peak learning rate it trained at."""

    @property
    def first_loss(self) -> float | None:
        return self.losses[0][1] if self.losses else None

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1][1] if self.losses else None

    def summary(self) -> TrainingSummary:
        """The part of the result that travels on ``adapters.published`` / ``adapters.rejected``."""
        return TrainingSummary(
            device=self.device,
            quantization=self.quantization,
            steps=self.steps,
            train_examples=self.train_examples,
            tokens=self.tokens,
            seconds=round(self.seconds, 3),
            first_loss=self.first_loss,
            final_loss=self.final_loss,
            learning_rate=self.learning_rate,
        )


def train_adapter(
    base_model: str,
    examples: Sequence[Example],
    spec: TaskSpec,
    adapter_dir: Path,
    *,
    device: str = "auto",
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train a LoRA adapter for ``spec`` on ``examples`` and save it into ``adapter_dir``.

    ``base_model`` is a loadable path or hub id (see ``trainer.student.resolve_base_model``);
    ``device`` is the trainer's setting (``auto``, ``cuda`` or ``cpu``); ``callbacks``
    are extra ``transformers.TrainerCallback`` objects (heartbeats, evaluation).
    On the CPU the loss projects only completion positions through the LM head
    (see ``trainer.lean``); on CUDA trl's own fused kernel already does.
    """
    from trl import SFTTrainer

    from trainer.lean import CompletionHeadSFTTrainer

    if not examples:
        raise TrainingError("examples: nothing to train on; the snapshot has no training rows")
    device = resolve_device(device)
    adapter_dir = Path(adapter_dir)
    with tempfile.TemporaryDirectory(prefix="distillery-sft-") as scratch:
        lora = lora_config(spec)
        args = sft_config(spec, Path(scratch), device=device)
        tokenizer = load_tokenizer(base_model)
        model, quantization = load_base(
            base_model, device, for_training=True, gradient_checkpointing=args.gradient_checkpointing
        )
        dataset = sft_dataset(examples, spec.student.system_prompt, tokenizer)
        args = budgeted(args, spec, len(dataset))
        trainer_class = CompletionHeadSFTTrainer if device == "cpu" else SFTTrainer
        trainer: Any = trainer_class(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=list(callbacks),
        )
        use_loss_bar(trainer, show=progress)
        seconds = run_trainer(trainer, device=device, task=spec.name)
        trainer.model.save_pretrained(str(adapter_dir))
    history = trainer.state.log_history
    losses = logged_losses(trainer)
    tokens = getattr(trainer, "tokens_seen", 0) or max(
        (int(h.get("num_tokens", 0)) for h in history), default=0
    )
    curve = write_loss_curve(adapter_dir, losses)
    result = TrainResult(
        adapter_dir=adapter_dir,
        device=device,
        quantization=quantization,
        steps=int(trainer.state.global_step),
        train_examples=len(examples),
        tokens=tokens,
        seconds=seconds,
        losses=losses,
        curve_files=tuple(curve),
        learning_rate=float(args.learning_rate),
    )
    log.info(
        "trained %s on %d examples: %d steps, %d tokens in %.1fs (%.0f tokens/s), loss %s -> %s",
        adapter_dir,
        len(examples),
        result.steps,
        tokens,
        seconds,
        tokens / max(seconds, 1e-9),
        fmt_loss(result.first_loss),
        fmt_loss(result.final_loss),
    )
    return result


def run_trainer(trainer: Any, *, device: str, task: str) -> float:
    """Run a Hugging Face trainer to the end; the seconds it took. Out of memory says what to lower."""
    import torch

    started = time.perf_counter()
    try:
        trainer.train()
    except torch.OutOfMemoryError as exc:
        raise TrainingError(f"sft: out of memory on {device} ({exc}); lower "
                            f"tasks.{task}.sft.per_device_train_batch_size or max_length") from exc
    return time.perf_counter() - started


def logged_losses(trainer: Any) -> tuple[tuple[int, float], ...]:
    """(step, loss) of every logged training step."""
    return tuple((int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h)


def fmt_loss(x: float | None) -> str:
    """A loss for a log line (``n/a`` when none was logged).

    >>> fmt_loss(0.123456), fmt_loss(None)
    ('0.1235', 'n/a')
    """
    return "n/a" if x is None else f"{x:.4f}"
