"""Train a classifier head and a LoRA adapter together (QLoRA on CUDA), one pass per example.

The loss is cross-entropy of the head's softmax (:mod:`trainer.head`) against
the label. Where an example carries the teacher's confidence in its label, a
soft target (that confidence on the label, the rest spread evenly over the
other labels) is mixed in with weight ``student.soft_label_weight``: the
student learns how sure the teacher was, not only what it said, which is what
its own confidence (the router's) should mean. transformers' ``Trainer`` runs
the loop with the task's ``[sft]`` settings (trl's ``SFTConfig`` is a
``TrainingArguments``), so progress, logging and callbacks are the LM path's.
On the CPU every batch runs packed, like the LM path: the shared prompt prefix
once, no padding (:func:`trainer.lean.backbone_hidden`).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from distillery.errors import ArtifactError, TrainingError
from distillery.taskspec import TaskSpec
from trainer.configs import budgeted, lora_config, sft_config
from trainer.curve import write_loss_curve
from trainer.data import HUMAN_SOURCE, Example
from trainer.head import (
    Classifier,
    HeadMeta,
    LabelHead,
    head_logits,
    init_head,
    load_head,
    pad_batch,
    prompt_ids,
    save_head,
)
from trainer.loading import load_base, load_tokenizer, resolve_device
from trainer.progress import use_loss_bar
from trainer.teacher_noise import TeacherNoise, estimate
from trainer.train import TrainResult, fmt_loss, logged_losses, run_trainer

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 256


def soft_targets(label_index: torch.Tensor, confidence: torch.Tensor, n_labels: int) -> torch.Tensor:
    """[batch, labels] targets: ``confidence`` on the label, the rest spread evenly.

    A confidence below the uniform share is raised to it (a teacher never
    prefers another label to the one it gave).

    >>> soft_targets(torch.tensor([1]), torch.tensor([0.7]), 4).mul(100).round().tolist()
    [[10.0, 70.0, 10.0, 10.0]]
    """
    conf = confidence.clamp(min=1.0 / n_labels, max=1.0)[:, None]
    rest = (1.0 - conf) / max(n_labels - 1, 1)
    out = rest.expand(-1, n_labels).clone()
    return out.scatter(1, label_index[:, None], conf)


def mixed_loss(logits: torch.Tensor, label_index: torch.Tensor, confidence: torch.Tensor,
               soft_weight: float, *, noise: torch.Tensor | None = None,
               noisy: torch.Tensor | None = None) -> torch.Tensor:
    """Hard cross-entropy, mixed with soft cross-entropy on rows that carry a confidence (< 0: none).

    ``noise`` (``[labels, labels]``, :mod:`trainer.teacher_noise`): on the rows
    ``noisy`` marks (teacher labels), the label is scored against what the
    teacher would say, ``softmax(logits) @ noise``, not against the student's
    own answer. Where the teacher says label 1 whatever the truth, its label
    costs nothing either way and only people's labels move the student:

    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> hard = mixed_loss(logits, torch.tensor([0, 1]), torch.tensor([-1.0, -1.0]), 0.5)
    >>> round(float(hard), 4) == round(float(F.cross_entropy(logits, torch.tensor([0, 1]))), 4)
    True
    >>> blind = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    >>> round(float(mixed_loss(logits, torch.tensor([1, 1]), torch.tensor([-1.0, -1.0]), 0.0,
    ...                        noise=blind, noisy=torch.tensor([True, True]))), 4)
    0.0
    """
    logp = F.log_softmax(logits.float(), dim=-1)
    if noise is not None and noisy is not None and bool(noisy.any()):
        through = torch.log((logp.exp() @ noise.to(logp)).clamp(min=1e-12))
        logp = torch.where(noisy[:, None], through, logp)
    hard = -logp.gather(1, label_index[:, None])[:, 0]
    has = confidence >= 0
    if soft_weight <= 0 or not bool(has.any()):
        return hard.mean()
    soft = -(soft_targets(label_index, confidence.clamp(min=0.0), logits.shape[1]) * logp).sum(dim=1)
    per_row = torch.where(has, (1 - soft_weight) * hard + soft_weight * soft, hard)
    return per_row.mean()


class HeadModel(nn.Module):
    """The peft-wrapped student and its head, as one module for ``transformers.Trainer``."""

    def __init__(self, peft_model: Any, head: LabelHead, soft_weight: float, pack: bool,
                 noise: torch.Tensor | None = None) -> None:
        super().__init__()
        self.noise = noise
        self.peft = peft_model
        self.head = head
        self.soft_weight = soft_weight
        self.pack = pack
        self.config = peft_model.config  # Trainer reads a few config fields
        self.tokens_seen = 0

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, label_index: torch.Tensor,
                confidence: torch.Tensor, noisy: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = head_logits(self.peft, self.head, input_ids, attention_mask, pack=self.pack)
        if self.training:
            self.tokens_seen += int(attention_mask.sum())
        loss = mixed_loss(logits, label_index, confidence, self.soft_weight, noise=self.noise, noisy=noisy)
        return {"loss": loss, "logits": logits}


class _Collator:
    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids, mask = pad_batch([r["input_ids"] for r in rows], self.pad_id)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "label_index": torch.tensor([r["label_index"] for r in rows], dtype=torch.long),
            "confidence": torch.tensor([r["confidence"] for r in rows], dtype=torch.float32),
            "noisy": torch.tensor([r["noisy"] for r in rows], dtype=torch.bool),
        }


def head_records(examples: Sequence[Example], labels: Sequence[str], tokenizer: Any, system_prompt: str,
                 max_length: int) -> list[dict[str, Any]]:
    """Tokenised rows; an example whose label is not in the label set is dropped (and counted)."""
    index = {label: i for i, label in enumerate(labels)}
    rows, dropped = [], 0
    for ex in examples:
        if ex.label not in index:
            dropped += 1
            continue
        rows.append({"input_ids": prompt_ids(tokenizer, system_prompt, ex.input, max_length),
                     "label_index": index[ex.label],
                     "confidence": -1.0 if ex.confidence is None else float(ex.confidence),
                     "noisy": ex.source != HUMAN_SOURCE})
    if dropped:
        log.warning("dropped %d example(s) whose label is not in the task's label set", dropped)
    return rows


def teacher_noise(examples: Sequence[Example], spec: TaskSpec) -> TeacherNoise:
    """The teacher's confusions people found in this snapshot (identity when off or none found).

    Pairs come from human examples that carry the teacher's answer (one per
    item, however often ``review.human_weight`` repeats it); the prior from the
    teacher's labels among the rest.
    """
    if spec.review.teacher_noise_min_corrections <= 0:
        return estimate(spec.labels, (), {})
    pairs = {ex.event_id: (ex.teacher_label, ex.label) for ex in examples
             if ex.source == HUMAN_SOURCE and ex.teacher_label is not None}
    counts = Counter(ex.label for ex in examples if ex.source != HUMAN_SOURCE)
    noise = estimate(spec.labels, pairs.values(), counts, min_corrections=spec.review.teacher_noise_min_corrections)
    if not noise.identity:
        log.info("teacher confusions people found (%d reviewed answers), learnt through: %s", len(pairs),
                 ", ".join(f"{k} {v:.0%}" for k, v in sorted(noise.corrected.items())))
    return noise


def warm_start(peft_model: Any, head: LabelHead, folder: Path, labels: Sequence[str]) -> str | None:
    """Load a served head adapter's LoRA and head weights into the fresh ones; None when done, else why not.

    Only an exact fit is taken (the same label order, every LoRA tensor of the
    same name and shape, nothing left over): anything else trains from the base.
    """
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import load_file

    try:
        served = load_head(folder)
        lora = load_file(str(folder / "adapter_model.safetensors"))
    except (ArtifactError, OSError, ValueError) as exc:
        return f"unreadable ({exc})"
    if served.labels != tuple(labels):
        return "its label set differs"
    if served.head.weight.shape != head.weight.shape:
        return "its head has another shape"
    mine = {k: v.shape for k, v in get_peft_model_state_dict(peft_model).items()}  # the names it saves under
    if mine.keys() != lora.keys() or any(lora[k].shape != shape for k, shape in mine.items()):
        return "its LoRA layers differ (another r, target modules or tune_top_layers)"
    set_peft_model_state_dict(peft_model, lora)
    with torch.no_grad():
        head.weight.copy_(served.head.weight)
        head.bias.copy_(served.head.bias)
    return None


def train_head_adapter(base_model: str, examples: Sequence[Example], spec: TaskSpec, adapter_dir: Path, *,
                       device: str = "auto", progress: bool = True, callbacks: Sequence[Any] = (),
                       start_from: Path | None = None) -> TrainResult:
    """Train a LoRA adapter and a classifier head for ``spec``; save both into ``adapter_dir``.

    ``start_from``: a served head adapter to start from (:func:`warm_start`);
    the result's ``warm_started`` says whether it was taken.
    """
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import Trainer, set_seed

    if spec.kind != "classification":
        raise TrainingError(f"student.head: a classifier head needs a classification task, {spec.name} is {spec.kind}")
    device = resolve_device(device)
    adapter_dir = Path(adapter_dir)
    prompt = spec.student.system_prompt
    with tempfile.TemporaryDirectory(prefix="distillery-head-") as scratch:
        args = sft_config(spec, Path(scratch), device=device)
        args = dataclasses.replace(args, remove_unused_columns=False)
        max_length = int(getattr(args, "max_length", None) or DEFAULT_MAX_LENGTH)
        tokenizer = load_tokenizer(base_model)
        rows = head_records(examples, spec.labels, tokenizer, prompt, max_length)
        if not rows:
            raise TrainingError("examples: no training row has a label in the task's label set")
        args = budgeted(args, spec, len(rows))
        # LoRA's and the head's first weights come from torch's global generator: seed it before they are
        # drawn (Trainer seeds only once they exist), so a job trains the same whatever ran before it
        set_seed(args.seed)
        model, quantization = load_base(base_model, device, for_training=True,
                                        gradient_checkpointing=args.gradient_checkpointing)
        head = init_head(model, tokenizer, spec.labels, prompt)
        peft_model = get_peft_model(model, lora_config(spec, top_layers_of=model))
        warm = None
        if start_from is not None:
            why_not = warm_start(peft_model, head, Path(start_from), spec.labels)
            if why_not is None:
                warm = Path(start_from)
                # continuing from serving weights: a full-rate step budget forgets what it does not see again
                args = dataclasses.replace(args, learning_rate=args.learning_rate * spec.student.warm_start_lr_scale)
                log.info("starting from the served adapter's weights (%s) at learning rate %.3g "
                         "(student.warm_start_lr_scale %g)", start_from, args.learning_rate,
                         spec.student.warm_start_lr_scale)
            else:
                log.warning("training from the base model, not from the served adapter: %s", why_not)
        has_soft = any(r["confidence"] >= 0 for r in rows)
        soft_weight = spec.student.soft_label_weight if has_soft else 0.0
        noise = teacher_noise(examples, spec)
        wrapper = HeadModel(peft_model, head, soft_weight, pack=device == "cpu" and not args.gradient_checkpointing,
                            noise=None if noise.identity else torch.tensor(noise.matrix, dtype=torch.float32))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        trainer: Any = Trainer(model=wrapper, args=args, train_dataset=Dataset.from_list(rows),
                               data_collator=_Collator(pad), callbacks=list(callbacks))
        use_loss_bar(trainer, show=progress)
        seconds = run_trainer(trainer, device=device, task=spec.name)
        peft_model.save_pretrained(str(adapter_dir))
        meta = HeadMeta(labels=tuple(spec.labels), hidden_size=int(head.weight.shape[1]),
                        targets="soft" if soft_weight > 0 else "hard", soft_label_weight=soft_weight,
                        teacher_noise=noise.corrected)
        save_head(Classifier(head, meta), adapter_dir)
    losses = logged_losses(trainer)
    tokens = wrapper.tokens_seen
    result = TrainResult(adapter_dir=adapter_dir, device=device, quantization=quantization,
                         steps=int(trainer.state.global_step), train_examples=len(rows), tokens=tokens,
                         seconds=seconds, losses=losses, curve_files=tuple(write_loss_curve(adapter_dir, losses)),
                         warm_started=warm is not None, learning_rate=float(args.learning_rate))
    log.info("trained a classifier head + LoRA %s on %d examples (%s targets): %d steps in %.1fs, loss %s -> %s",
             adapter_dir, len(rows), meta.targets, result.steps, seconds, fmt_loss(result.first_loss),
             fmt_loss(result.final_loss))
    return result
