"""The real built-in student, end to end on the CPU: convert, train, score, gate.

SmolLM2-135M, converted from the wheel's GGUF, learns a six-category synthetic
task in 15 LoRA steps; an adapter trained on deliberately corrupted labels
(every label shifted to the next category) must be rejected by the gate while
the clean one is promoted. About 2.5 minutes on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.sim.statements import CATEGORIES, corrupt, make_examples
from distillery.taskspec import DEFAULT_STUDENT, GateSpec, StudentSpec, TaskSpec
from trainer.calibrate import calibrate_threshold
from trainer.gate import evaluate_gate
from trainer.gold import GoldRow
from trainer.loading import load_tokenizer, load_with_adapter
from trainer.scoring import LabelScore, score_labels
from trainer.student import CONVERSION_MARKER, resolve_base_model
from trainer.train import train_adapter

SYSTEM_PROMPT = "Categorise the bank transaction."
GATE = GateSpec(max_below_teacher=0.35, must_beat_base=True, min_category_support=3)


@pytest.mark.slow
def test_student_learns_and_the_gate_tells_clean_from_corrupted(tmp_path: Path) -> None:
    base = resolve_base_model(DEFAULT_STUDENT, tmp_path / "models")
    assert (Path(base) / CONVERSION_MARKER).is_file() and (Path(base) / "model.safetensors").is_file()
    tokenizer = load_tokenizer(base)
    assert tokenizer.eos_token == "<|im_end|>"  # the GGUF reader's <|im_start|> was corrected

    spec = TaskSpec(
        name="cards",
        kind="classification",
        labels=list(CATEGORIES),
        student=StudentSpec(system_prompt=SYSTEM_PROMPT),
        sft={
            "learning_rate": 3e-3,
            "num_train_epochs": 1,
            "per_device_train_batch_size": 16,
            "max_length": 96,
        },
    )
    train = make_examples(240, seed=1)
    gold_rows = make_examples(36, seed=2)
    gold = [GoldRow(g.input, g.label, g.category, teacher=g.label) for g in gold_rows]
    texts = [g.input for g in gold_rows]

    def scores(adapter: Path | None) -> list[LabelScore]:
        model = load_with_adapter(base, adapter, "cpu")
        return score_labels(model, tokenizer, texts, spec.labels, SYSTEM_PROMPT, batch_size=12)

    base_answers = [s.label for s in scores(None)]
    clean = train_adapter(base, train, spec, tmp_path / "clean", device="cpu", progress=False)
    bad = train_adapter(base, corrupt(train), spec, tmp_path / "corrupted", device="cpu", progress=False)
    clean_scores = scores(clean.adapter_dir)
    clean_answers, bad_answers = [s.label for s in clean_scores], [s.label for s in scores(bad.adapter_dir)]

    promoted = evaluate_gate(gold, GATE, candidate=clean_answers, base=base_answers)
    rejected = evaluate_gate(gold, GATE, candidate=bad_answers, base=base_answers)
    base_acc = promoted.metrics.base.accuracy  # type: ignore[union-attr]
    assert base_acc < 0.5
    assert promoted.metrics.candidate.accuracy >= base_acc + 0.3
    assert promoted.failed == [], promoted.metrics.rules
    assert {"beats_base", "within_teacher"} <= set(rejected.failed)
    assert rejected.metrics.candidate.accuracy < base_acc

    assert clean.steps == 15 and clean.final_loss is not None and clean.first_loss is not None
    assert clean.final_loss < clean.first_loss / 4
    calib = calibrate_threshold(
        [s.confidence for s in clean_scores],
        [a == g.label for a, g in zip(clean_answers, gold_rows, strict=True)],
        target_accuracy=0.95,
    )
    assert calib.threshold is None or calib.accuracy >= 0.95  # type: ignore[operator]
