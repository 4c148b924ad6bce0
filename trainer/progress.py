"""A training progress bar that shows the loss instead of printing a log line per step.

transformers prints every logged dict under its bar; the trainer logs every step
(for the loss curve), so that would be one line per step. This bar shows the
step count, speed and latest loss in place.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


class LossBar(TrainerCallback):
    """tqdm bar over the training steps, with the latest loss as its postfix."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, desc="training", unit="step", dynamic_ncols=True)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def use_loss_bar(trainer: Any, *, show: bool) -> None:
    """Swap the trainer's own progress/printer callbacks for :class:`LossBar` (or nothing)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    if show:
        trainer.add_callback(LossBar())
