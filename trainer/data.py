"""Training snapshots in, chat examples for trl out, in the one format scoring reuses.

A snapshot is a Parquet file with at least ``event_id, input, label, category,
split``. Each row becomes a conversational prompt/completion pair (system = the
student's short prompt, user = input, assistant = label) so trl computes the
loss on the completion only. The same two functions that render an example for
training render it for scoring, so the model is always asked the question it
was taught on.

>>> prompt_messages("Categorise.", "STARBUCKS 1234")[1]
{'role': 'user', 'content': 'STARBUCKS 1234'}

The label is the answer as stored (:func:`distillery.answers.encode`), trimmed:

>>> answers.encode({"currency": "EUR", "amount": 3})
'{"amount":3,"currency":"EUR"}'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillery import answers
from distillery.errors import TrainingError

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("event_id", "input", "label", "category", "split")
TRAIN_SPLIT = "train"


@dataclass(frozen=True)
class Example:
    """One labeled input; ``label`` is the exact answer text the student learns."""

    event_id: str
    input: str
    label: str
    category: str
    confidence: float | None = None
    """The teacher's probability of ``label`` where it gave one (a soft target for a classifier head)."""
    source: str | None = None
    """Who gave the label: ``human`` for a person (a review decision), else the teacher or production."""
    teacher_label: str | None = None
    """On a human example, what the teacher had answered for the same item (where the snapshot says)."""


@dataclass(frozen=True)
class Snapshot:
    """A snapshot's rows: ``train`` to learn from, ``held_out`` (every other split) to check on."""

    train: list[Example]
    held_out: list[Example]


HUMAN_SOURCE = "human"
"""The ``source`` of an example a person labeled (a review decision)."""


def read_snapshot(path: Path | str, *, min_train_examples: int, kind: str = "classification",
                  human_weight: int = 1) -> Snapshot:
    """Read a snapshot, or raise :class:`TrainingError` saying why it cannot be trained on.

    A training row a person labeled (``source`` = ``human``) is repeated
    ``human_weight`` times (the task's ``review.human_weight``): the few labels
    people checked weigh more than the many the teacher gave. Held-out rows are
    never repeated.

    Rows with an empty input or label are dropped (and counted in the log): they
    teach nothing and would only dilute the loss. For an extraction task, labels
    stored as JSON text are re-written in the one canonical form (compact, keys
    sorted), so the student never learns two spellings of an answer; a label
    that is not JSON is dropped as unusable.
    """
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"snapshot_uri: cannot read Parquet snapshot {path}: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise TrainingError(
            f"snapshot_uri: {path} lacks column(s) {missing}; it has {table.column_names}, "
            f"and a snapshot needs {list(REQUIRED_COLUMNS)}"
        )
    train: list[Example] = []
    held_out: list[Example] = []
    dropped = 0
    optional = [c for c in ("teacher_confidence", "source", "teacher_label") if c in table.column_names]
    for row in table.select([*REQUIRED_COLUMNS, *optional]).to_pylist():
        text, label = row["input"], row["label"]
        if kind == "extraction" and isinstance(label, str):
            label = _json_or_none(label)
        if not isinstance(text, str) or not text.strip() or label is None or not answers.encode(label).strip():
            dropped += 1
            continue
        answer = answers.encode(label).strip()
        category = row["category"] or (answer if isinstance(label, str) else "")
        confidence = row.get("teacher_confidence")
        confidence = float(confidence) if isinstance(confidence, int | float) and 0.0 <= confidence <= 1.0 else None
        source = row.get("source")
        teacher = row.get("teacher_label")
        teacher = teacher.strip() if isinstance(teacher, str) and teacher.strip() else None
        example = Example(str(row["event_id"]), text, answer, str(category), confidence,
                          source=str(source) if source is not None else None, teacher_label=teacher)
        if row["split"] != TRAIN_SPLIT:
            held_out.append(example)
        else:
            train.extend([example] * (max(1, human_weight) if row.get("source") == HUMAN_SOURCE else 1))
    if dropped:
        log.warning(
            "snapshot %s: dropped %d row(s) with an empty input or an empty or unusable label", path, dropped
        )
    if len(train) < min_train_examples:
        raise TrainingError(
            f"snapshot_uri: {path} has {len(train)} usable training row(s) (split={TRAIN_SPLIT!r}), "
            f"fewer than retrain.min_train_examples={min_train_examples}; wait for more labeled data "
            "or lower that setting"
        )
    return Snapshot(train, held_out)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def prompt_messages(system_prompt: str, text: str) -> list[dict[str, str]]:
    """The chat prompt: always with a system message, so no template slips in its own default."""
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": text}]


def plain_prompt(system_prompt: str, text: str) -> str:
    """The prompt for a tokenizer without a chat template."""
    head = f"{system_prompt}\n\n" if system_prompt else ""
    return f"{head}Input: {text}\nAnswer:"


def sft_records(examples: Sequence[Example], system_prompt: str, tokenizer: Any) -> list[dict[str, Any]]:
    """trl prompt/completion records: conversational when the tokenizer has a chat template."""
    if getattr(tokenizer, "chat_template", None):
        return [
            {
                "prompt": prompt_messages(system_prompt, ex.input),
                "completion": [{"role": "assistant", "content": ex.label}],
            }
            for ex in examples
        ]
    return [
        {"prompt": plain_prompt(system_prompt, ex.input), "completion": " " + ex.label} for ex in examples
    ]


def sft_dataset(examples: Sequence[Example], system_prompt: str, tokenizer: Any) -> Any:
    """The ``datasets.Dataset`` SFTTrainer trains on (loss on the completion only)."""
    from datasets import Dataset

    return Dataset.from_list(sft_records(examples, system_prompt, tokenizer))


def encode(tokenizer: Any, system_prompt: str, text: str, answer: str) -> tuple[list[int], list[int]]:
    """Token ids of (prompt, completion) exactly as trl splits them for training.

    The completion starts where the tokenised prompt and prompt+answer diverge, as
    in trl; for ChatML it is the answer plus the end-of-turn tokens.
    """
    if getattr(tokenizer, "chat_template", None):
        messages = prompt_messages(system_prompt, text)
        prompt = _chat_ids(tokenizer, messages, add_generation_prompt=True)
        full = _chat_ids(tokenizer, [*messages, {"role": "assistant", "content": answer}])
    else:
        prompt_str = plain_prompt(system_prompt, text)
        completion = " " + answer
        if tokenizer.eos_token and not completion.endswith(tokenizer.eos_token):
            completion += tokenizer.eos_token
        prompt = list(tokenizer(text=prompt_str)["input_ids"])
        full = list(tokenizer(text=prompt_str + completion)["input_ids"])
    cut = 0
    for a, b in zip(prompt, full, strict=False):
        if a != b:
            break
        cut += 1
    return full[:cut], full[cut:]


def encode_prompt(tokenizer: Any, system_prompt: str, text: str) -> list[int]:
    """Token ids of the prompt alone, as the model sees it before answering."""
    if getattr(tokenizer, "chat_template", None):
        return _chat_ids(tokenizer, prompt_messages(system_prompt, text), add_generation_prompt=True)
    return list(tokenizer(text=plain_prompt(system_prompt, text))["input_ids"])


def _chat_ids(
    tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False
) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, add_generation_prompt=add_generation_prompt
    )
    return list(out["input_ids"])
