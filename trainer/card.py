"""The model card written beside every adapter: JSON for machines, Markdown for people.

It says what the adapter is (base model, data snapshot and its hash, job,
prompt), how it was trained (the LoRA and SFT settings, the run's summary) and
what it proved on the gold set, including every gate rule's verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distillery.artifacts import sha256_file
from distillery.events import GateMetrics, ModelScores, TrainingSummary, TrainJob
from distillery.taskspec import TaskSpec

ADAPTER_WEIGHTS = "adapter_model.safetensors"


def adapter_sha256(adapter_dir: Path | str) -> str:
    """SHA-256 of the adapter's weights file, the checksum ``AdapterPublished`` carries."""
    return sha256_file(Path(adapter_dir) / ADAPTER_WEIGHTS)


def build_card(
    *,
    adapter_id: str,
    job: TrainJob,
    spec: TaskSpec,
    base_model: str,
    adapter_sha: str,
    training: TrainingSummary,
    metrics: GateMetrics | None,
    failed_rules: list[str],
    router_threshold: float | None = None,
    head: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The card as a JSON-ready dict."""
    return {
        "adapter_id": adapter_id,
        "task": spec.name,
        "kind": spec.kind,
        "base_model": base_model,
        "adapter_sha256": adapter_sha,
        "job_id": job.job_id,
        "reason": job.reason,
        "snapshot_uri": job.snapshot_uri,
        "snapshot_sha256": job.snapshot_sha256,
        "gold_uri": job.gold_uri,
        "student_prompt": spec.student.system_prompt,
        "labels": list(spec.labels),
        "training_config": {"lora": dict(spec.lora), "sft": dict(spec.sft)},
        "training": training.model_dump(mode="json"),
        "metrics": metrics.model_dump(mode="json") if metrics else None,
        "failed_rules": list(failed_rules),
        "promoted": metrics is not None and not failed_rules,
        "router_threshold": router_threshold,
        "head": (head or {}).get("head", "lm"),
        "head_targets": (head or {}).get("head_targets"),
        "head_sha256": (head or {}).get("head_sha256"),
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown: summary, gate verdicts, scores per contender, training."""
    verdict = (
        "promoted" if card["promoted"] else f"rejected ({', '.join(card['failed_rules']) or 'no metrics'})"
    )
    lines = [
        f"# {card['task']} adapter `{card['adapter_id']}`",
        "",
        f"- **Verdict:** {verdict}",
        f"- **Base model:** `{card['base_model']}`",
        f"- **Adapter SHA-256:** `{card['adapter_sha256']}`",
        f"- **Train job:** `{card['job_id']}` ({card['reason']})",
        f"- **Data snapshot:** `{card['snapshot_uri']}` (sha256 `{card['snapshot_sha256']}`)",
        f"- **Gold set:** `{card['gold_uri']}`",
        f"- **Student prompt:** {json.dumps(card['student_prompt'])}",
        f"- **Head:** {_head_line(card)}",
    ]
    if card["router_threshold"] is not None:
        lines.append(f"- **Router threshold:** {card['router_threshold']:.4f}")
    metrics = card["metrics"]
    if metrics:
        lines += ["", "## Gate", "", "| rule | passed |", "|---|---|"]
        lines += [f"| {name} | {'yes' if ok else 'NO'} |" for name, ok in metrics["rules"].items()]
        lines += ["", f"## Gold set ({metrics['gold_size']} examples)", ""]
        lines += ["| model | accuracy | teacher agreement | worst category |", "|---|---|---|---|"]
        for who in ("candidate", "production", "base", "teacher"):
            if metrics.get(who):
                lines.append(_score_row(who, ModelScores.model_validate(metrics[who])))
    t = card["training"]
    lines += [
        "",
        "## Training",
        "",
        f"{t['steps']} steps on {t['train_examples']} examples, {t['tokens']} tokens in {t['seconds']:.1f}s "
        f"on {t['device']} (quantization: {t['quantization']}); loss {_num(t['first_loss'])} -> "
        f"{_num(t['final_loss'])}.",
        "",
        "```json",
        json.dumps(card["training_config"], indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_card(folder: Path, card: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``card.json`` and ``README.md`` (replacing peft's template) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    as_json, as_md = folder / "card.json", folder / "README.md"
    as_json.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    as_md.write_text(card_markdown(card))
    return as_json, as_md


def _score_row(who: str, s: ModelScores) -> str:
    worst = f"{s.worst_category} ({s.per_category[s.worst_category]:.3f})" if s.worst_category else "-"
    return f"| {who} | {s.accuracy:.3f} | {_num(s.teacher_agreement)} | {worst} |"


def _head_line(card: dict[str, Any]) -> str:
    if card.get("head") == "classifier":
        return (f"classifier over {len(card['labels'])} labels, one forward pass per answer "
                f"({card.get('head_targets')} targets; head.safetensors sha256 `{card.get('head_sha256')}`); "
                "served in process (vLLM's LoRA API serves the LM head only)")
    return "language model (label likelihood or generation)"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}" if abs(x) < 10 else f"{x:.1f}"
