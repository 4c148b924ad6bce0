"""A classification head on the student: every label scored by one forward pass over the input.

Scoring a label set by likelihood (:mod:`trainer.scoring`) runs every label's
tokens through the model after the prompt, so an answer costs more the more
labels a task has. The head reads the backbone's last hidden state at the end
of the chat prompt (the state that would predict the answer's first token)
and maps it to one logit per label with a linear layer; its softmax is the
answer's confidence. The backbone runs once over the prompt alone, whatever
the size of the label set, and the vocabulary projection is never computed.

The head starts from the language model's own knowledge: row ``i`` of its
weight is the mean output embedding of label ``i``'s tokens, so before any
training its logits are the model's affinity for each label's words at the
answer position, not noise. The LoRA adapter (peft's format) and the head
(``head.safetensors`` plus ``head.json`` with the label order) are saved side
by side in the adapter folder; one base model in memory serves the heads of
any number of tasks, each hot-swapped with its adapter.

>>> import torch
>>> head = LabelHead(4, 3)
>>> head.weight.shape, head.bias.tolist()
(torch.Size([3, 4]), [0.0, 0.0, 0.0])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from distillery.errors import ArtifactError, TrainingError
from trainer.data import encode_prompt
from trainer.lean import backbone_hidden
from trainer.prefix import PrefixCache, last_states_after
from trainer.scoring import label_completions

HEAD_WEIGHTS = "head.safetensors"
HEAD_META = "head.json"
HEAD_FORMAT = 1
KEEP_TAIL_TOKENS = 8
"""A prompt cut to fit ``max_length`` keeps its last tokens: the chat framing the head reads sits there."""


class LabelHead(nn.Linear):
    """One logit per label from a hidden state (a bias lets it learn the label prior)."""

    def __init__(self, hidden_size: int, n_labels: int) -> None:
        super().__init__(hidden_size, n_labels, bias=True)
        with torch.no_grad():
            self.bias.zero_()


@dataclass(frozen=True)
class HeadMeta:
    """What ``head.json`` says: the label order and how the head reads the model."""

    labels: tuple[str, ...]
    hidden_size: int
    targets: str = "hard"
    soft_label_weight: float = 0.0
    pooling: str = "last_prompt_token"
    format: int = HEAD_FORMAT
    teacher_noise: dict[str, float] = field(default_factory=dict)
    """The teacher's confusions people found, learnt through (``"truth<-teacher"``: rate); empty: none."""

    def to_json(self) -> str:
        data: dict[str, Any] = {"format": self.format, "kind": "classifier", "labels": list(self.labels),
                                "hidden_size": self.hidden_size, "pooling": self.pooling, "targets": self.targets,
                                "soft_label_weight": self.soft_label_weight}
        if self.teacher_noise:
            data["teacher_noise"] = dict(sorted(self.teacher_noise.items()))
        return json.dumps(data, indent=2) + "\n"


@dataclass
class Classifier:
    """A loaded head with its labels, ready to answer (see :func:`classify`).

    ``prefix`` caches the prompt's shared prefix for frozen weights (a served
    adapter; :mod:`trainer.prefix`); a classifier whose weights still move has none.
    """

    head: LabelHead
    meta: HeadMeta
    prefix: PrefixCache | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.meta.labels


def init_head(causal: Any, tokenizer: Any, labels: Sequence[str], system_prompt: str) -> LabelHead:
    """A head whose row per label is the mean output embedding of that label's answer tokens."""
    embeddings = causal.get_output_embeddings().weight
    head = LabelHead(int(embeddings.shape[1]), len(labels))
    completions = label_completions(tokenizer, labels, system_prompt, "probe")
    eos = {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}
    with torch.no_grad():
        for i, ids in enumerate(completions):
            words = [t for t in ids if t not in eos] or ids
            head.weight[i] = embeddings[torch.tensor(words)].float().mean(dim=0)
    return head.to(embeddings.device)


def is_head_adapter(folder: Path | str) -> bool:
    """True when an adapter folder carries a classifier head."""
    return (Path(folder) / HEAD_META).is_file()


def save_head(classifier: Classifier, folder: Path | str) -> None:
    """Write ``head.safetensors`` and ``head.json`` into an adapter folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    state = {k: v.detach().float().cpu().contiguous() for k, v in classifier.head.state_dict().items()}
    save_file(state, str(folder / HEAD_WEIGHTS))
    (folder / HEAD_META).write_text(classifier.meta.to_json(), encoding="utf-8")


def load_head(folder: Path | str, device: str = "cpu") -> Classifier:
    """Read a saved head, or raise :class:`ArtifactError` naming what is wrong with it."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        data = json.loads((folder / HEAD_META).read_text(encoding="utf-8"))
        labels = tuple(str(x) for x in data["labels"])
        meta = HeadMeta(labels=labels, hidden_size=int(data["hidden_size"]), targets=str(data.get("targets", "hard")),
                        soft_label_weight=float(data.get("soft_label_weight", 0.0)),
                        pooling=str(data.get("pooling", "last_prompt_token")), format=int(data.get("format", 1)),
                        teacher_noise={str(k): float(v) for k, v in dict(data.get("teacher_noise") or {}).items()})
        state = load_file(str(folder / HEAD_WEIGHTS))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{folder}: unreadable classifier head ({type(exc).__name__}: {exc}); "
                            f"an adapter with a head needs {HEAD_META} and {HEAD_WEIGHTS}") from exc
    if meta.format != HEAD_FORMAT or meta.pooling != "last_prompt_token":
        raise ArtifactError(f"{folder / HEAD_META}: format {meta.format}, pooling {meta.pooling!r} is not one this "
                            f"version reads (format {HEAD_FORMAT}, last_prompt_token); upgrade distillery")
    head = LabelHead(meta.hidden_size, len(labels))
    try:
        head.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(f"{folder / HEAD_WEIGHTS}: does not match {HEAD_META} "
                            f"({len(labels)} labels, hidden size {meta.hidden_size}): {exc}") from exc
    return Classifier(head.to(device).eval(), meta)


def prompt_ids(tokenizer: Any, system_prompt: str, text: str, max_length: int) -> list[int]:
    """The chat prompt's ids, cut in the middle when longer than ``max_length`` (its end is kept)."""
    ids = encode_prompt(tokenizer, system_prompt, text)
    if len(ids) <= max_length:
        return ids
    keep = min(KEEP_TAIL_TOKENS, max_length // 2)
    return ids[: max_length - keep] + ids[-keep:]


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask`` for rows of token ids.

    >>> ids, mask = pad_batch([[5, 6, 7], [8]], 0)
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]])
    """
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def head_logits(model: Any, head: LabelHead, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                *, pack: bool) -> torch.Tensor:
    """[batch, labels] logits: the head over each row's last prompt state.

    ``model`` is the causal LM, bare or wrapped by peft (its active adapter
    applies). ``pack`` runs the batch as one packed row (the shared prompt
    prefix once, no padding; :func:`trainer.lean.backbone_hidden`); rows must be
    right-padded.
    """
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    inputs: dict[str, torch.Tensor] = {"input_ids": input_ids}
    if input_ids.shape[0] > 1:  # one row has no padding: no mask to build (building one costs more than the pass)
        inputs["attention_mask"] = attention_mask
    hidden = backbone_hidden(causal, inputs, pack=pack)
    last = attention_mask.sum(dim=1) - 1
    states = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    return head(states.to(head.weight.dtype))


def classify(model: Any, tokenizer: Any, classifier: Classifier, system_prompt: str, texts: Sequence[str], *,
             batch_size: int = 32, max_length: int = 256) -> list[tuple[str, float, tuple[float, ...]]]:
    """(label, confidence, probabilities in label order) for every text, one forward pass per batch.

    Texts are batched by length, so a batch carries little padding; on the CPU
    each batch runs packed (:func:`head_logits`). With a prefix cache
    (``classifier.prefix``) the backbone runs over each prompt's own tokens only.
    """
    if not texts:
        return []
    device = classifier.head.weight.device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = [prompt_ids(tokenizer, system_prompt, t, max_length) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    out: list[Any] = [None] * len(texts)
    was_training = model.training
    if was_training:  # a served model is already in eval mode: walking every module again costs a few ms an answer
        model.eval()
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        with torch.inference_mode():
            prefix = None if classifier.prefix is None else classifier.prefix.get(
                causal, lambda sp, t: prompt_ids(tokenizer, sp, t, max_length), system_prompt)
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                rows = [encoded[i] for i in chunk]
                if prefix is not None and all(prefix.covers(r) for r in rows):
                    states = last_states_after(causal, prefix, rows, pad)
                    logits = classifier.head(states.to(classifier.head.weight.dtype))
                else:
                    ids, mask = pad_batch(rows, pad)
                    logits = head_logits(model, classifier.head, ids.to(device), mask.to(device),
                                         pack=device.type == "cpu")
                probs = torch.softmax(logits.float(), dim=-1).cpu()
                for row, i in enumerate(chunk):
                    p = probs[row]
                    best = int(torch.argmax(p))
                    out[i] = (classifier.labels[best], float(p[best]), tuple(float(x) for x in p.tolist()))
    finally:
        if was_training:
            model.train()
    return out


def check_labels(classifier: Classifier, labels: Sequence[str], where: str) -> None:
    """Refuse a head whose label order is not the task's: its answers would be other labels."""
    if tuple(labels) != classifier.labels:
        raise TrainingError(f"{where}: the head was trained on labels {list(classifier.labels)[:5]}... "
                            f"({len(classifier.labels)}), the task now has {list(labels)[:5]}... ({len(labels)}); "
                            "retrain the adapter for the current label set")
