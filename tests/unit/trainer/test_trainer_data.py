"""Snapshots in, chat examples out: bad snapshots refused with the reason, prompts masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from trainer_toy import SYSTEM_PROMPT, toy_examples, toy_spec

from distillery.errors import TrainingError
from trainer.configs import lora_config, sft_config
from trainer.data import Example, encode, read_snapshot, sft_records
from trainer.lean import CompletionHeadSFTTrainer
from trainer.loading import load_base, load_tokenizer


def _write(path: Path, rows: dict[str, list[Any]]) -> Path:
    pq.write_table(pa.table(rows), path)
    return path


def _rows(n_train: int, n_eval: int) -> dict[str, list[Any]]:
    n = n_train + n_eval
    return {
        "event_id": [f"e{i}" for i in range(n)],
        "input": [f"STARBUCKS #{i}" for i in range(n)],
        "label": ["coffee_shops"] * n,
        "category": ["coffee_shops"] * n,
        "split": ["train"] * n_train + ["eval"] * n_eval,
    }


def test_snapshot_splits_train_from_held_out(tmp_path: Path) -> None:
    rows = _rows(5, 2)
    rows["input"][1] = "  "  # empty input: dropped
    rows["label"][2] = None  # no label: dropped
    rows["category"][3] = None  # no category: falls back to the label
    snap = read_snapshot(_write(tmp_path / "s.parquet", rows), min_train_examples=3)
    assert [e.event_id for e in snap.train] == ["e0", "e3", "e4"]
    assert [e.event_id for e in snap.held_out] == ["e5", "e6"]
    assert snap.train[1] == Example("e3", "STARBUCKS #3", "coffee_shops", "coffee_shops")


def test_human_training_rows_count_human_weight_times(tmp_path: Path) -> None:
    rows = _rows(3, 1)
    rows["source"] = ["teacher", "human", "teacher", "human"]
    snap = read_snapshot(_write(tmp_path / "s.parquet", rows), min_train_examples=3, human_weight=3)
    assert [e.event_id for e in snap.train] == ["e0", "e1", "e1", "e1", "e2"]
    assert [e.event_id for e in snap.held_out] == ["e3"]  # held-out rows are never repeated


def test_too_small_a_snapshot_names_the_setting(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.parquet", _rows(3, 10))
    with pytest.raises(TrainingError, match=r"3 usable training row.*retrain\.min_train_examples=4"):
        read_snapshot(path, min_train_examples=4)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    rows = _rows(5, 0)
    del rows["split"], rows["category"]
    with pytest.raises(TrainingError, match=r"lacks column\(s\) \['category', 'split'\]"):
        read_snapshot(_write(tmp_path / "s.parquet", rows), min_train_examples=1)


def test_unreadable_snapshot_is_a_training_error(tmp_path: Path) -> None:
    bad = tmp_path / "s.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(TrainingError, match="cannot read Parquet snapshot"):
        read_snapshot(bad, min_train_examples=1)
    with pytest.raises(TrainingError, match="cannot read"):
        read_snapshot(tmp_path / "missing.parquet", min_train_examples=1)


def test_extraction_labels_become_canonical_json(tmp_path: Path) -> None:
    rows = _rows(3, 0)
    rows["label"] = ['{"b": 1, "a": "x"}', "not json", ' {"a": "y"} ']
    path = _write(tmp_path / "s.parquet", rows)
    snap = read_snapshot(path, min_train_examples=1, kind="extraction")
    assert [e.label for e in snap.train] == ['{"a":"x","b":1}', '{"a":"y"}']
    as_labels = read_snapshot(path, min_train_examples=1)  # classification: labels kept verbatim
    assert [e.label for e in as_labels.train] == ['{"b": 1, "a": "x"}', "not json", '{"a": "y"}']


def _prepared(tiny_model: str, tmp_path: Path, chat: bool) -> tuple[Any, list[Example], Any]:
    tokenizer = load_tokenizer(tiny_model)
    if not chat:
        tokenizer.chat_template = None
    model, _ = load_base(tiny_model, "cpu")
    spec = toy_spec()
    examples = toy_examples(6, seed=3)
    records = sft_records(examples, SYSTEM_PROMPT, tokenizer)
    assert ("messages" in records[0]) is False and isinstance(records[0]["prompt"], list) is chat
    from datasets import Dataset

    trainer = CompletionHeadSFTTrainer(
        model=model,
        args=sft_config(spec, tmp_path, device="cpu"),
        train_dataset=Dataset.from_list(records),
        processing_class=tokenizer,
        peft_config=lora_config(spec),
    )
    return trainer.train_dataset, examples, tokenizer


@pytest.mark.parametrize("chat", [True, False], ids=["chat-template", "plain-prompt"])
def test_prompt_tokens_are_masked_out_of_the_loss(tiny_model: str, tmp_path: Path, chat: bool) -> None:
    dataset, examples, tokenizer = _prepared(tiny_model, tmp_path, chat)
    for row, ex in zip(dataset, examples, strict=True):
        prompt, completion = encode(tokenizer, SYSTEM_PROMPT, ex.input, ex.label)
        assert row["input_ids"] == prompt + completion
        assert row["labels"] == [-100] * len(prompt) + completion
        assert tokenizer.decode(completion).startswith(ex.label if chat else " " + ex.label)
        assert tokenizer.eos_token_id in completion  # the model learns to stop
