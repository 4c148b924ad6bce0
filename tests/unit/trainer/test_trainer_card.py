"""Model card, adapter checksum and the loss curve written beside an adapter."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from trainer_toy import toy_spec

from distillery.events import GateMetrics, ModelScores, TrainingSummary, TrainJob
from trainer.card import adapter_sha256, build_card, card_markdown, write_card
from trainer.curve import loss_svg, write_loss_curve

SHA = "ab" * 32


def _card(promoted: bool) -> dict[str, object]:
    job = TrainJob(
        task="toy",
        job_id="toy-1",
        snapshot_uri="s3://b/snap.parquet",
        snapshot_sha256=SHA,
        gold_uri="s3://b/gold.parquet",
        reason="drift",
    )
    cand = ModelScores(
        n=10, accuracy=0.8, teacher_agreement=0.9, per_category={"a": 0.5, "b": 1.0}, worst_category="a"
    )
    metrics = GateMetrics(
        gold_size=10,
        candidate=cand,
        base=cand.model_copy(update={"accuracy": 0.2}),
        rules={"beats_base": True, "within_teacher": promoted},
    )
    training = TrainingSummary(
        device="cpu",
        quantization="none",
        steps=24,
        train_examples=48,
        tokens=4000,
        seconds=12.5,
        first_loss=7.5,
        final_loss=0.4,
    )
    return build_card(
        adapter_id="toy-a1",
        job=job,
        spec=toy_spec(),
        base_model="smollm2-135m-instruct",
        adapter_sha=SHA,
        training=training,
        metrics=metrics,
        failed_rules=[] if promoted else ["within_teacher"],
        router_threshold=0.83,
    )


def test_card_carries_provenance_metrics_and_config() -> None:
    card = _card(promoted=True)
    assert card["promoted"] is True and card["snapshot_sha256"] == SHA and card["job_id"] == "toy-1"
    assert card["student_prompt"] == "Label it." and card["base_model"] == "smollm2-135m-instruct"
    assert card["training_config"]["lora"]["r"] == 8  # type: ignore[index]
    assert card["metrics"]["candidate"]["accuracy"] == 0.8  # type: ignore[index]
    json.dumps(card)  # JSON-ready


def test_markdown_shows_the_verdict_and_every_rule() -> None:
    text = card_markdown(_card(promoted=False))
    assert "**Verdict:** rejected (within_teacher)" in text
    assert "| within_teacher | NO |" in text and "| beats_base | yes |" in text
    assert "| candidate | 0.800 | 0.9000 | a (0.500) |" in text
    assert "24 steps on 48 examples, 4000 tokens in 12.5s on cpu" in text
    assert "**Router threshold:** 0.8300" in text


def test_write_card_and_checksum(tmp_path: Path) -> None:
    (tmp_path / "adapter_model.safetensors").write_bytes(b"weights")
    assert adapter_sha256(tmp_path) == hashlib.sha256(b"weights").hexdigest()
    as_json, as_md = write_card(tmp_path, _card(promoted=True))
    assert json.loads(as_json.read_text())["adapter_id"] == "toy-a1"
    assert as_md.name == "README.md" and as_md.read_text().startswith("# toy adapter `toy-a1`")


def test_loss_curve_files(tmp_path: Path) -> None:
    files = write_loss_curve(tmp_path, [(1, 2.0), (2, 1.5), (3, 0.5)])
    assert [f.name for f in files] == ["loss.json", "loss.svg"]  # matplotlib is not installed here
    assert json.loads(files[0].read_text()) == [
        {"step": 1, "loss": 2.0},
        {"step": 2, "loss": 1.5},
        {"step": 3, "loss": 0.5},
    ]
    svg = files[1].read_text()
    assert (
        'points="48.0,48.0 320.0,136.0 592.0,312.0"' in svg
    )  # highest loss at the top, lowest at the bottom
    assert "loss 2.0000 at step 1, 0.5000 at step 3" in svg
    assert "no loss logged" in loss_svg([])
