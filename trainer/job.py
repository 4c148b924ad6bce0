"""One train job, start to verdict: snapshot → adapter → gold-set gate → event.

The gate compares four contenders on the task's frozen gold set: the base model
with no adapter (is fine-tuning needed at all?), the candidate, the adapter now in
production, and the teacher's pinned answers. A promoted adapter goes to the
artifact store in peft's own format with a model card; either way the verdict is
an event carrying the same metrics (and, when rejected, the rules that failed).
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from distillery.answers import decode, same_answer
from distillery.artifacts import ArtifactStore, fetch, fetch_dir, sha256_file
from distillery.errors import ArtifactError, TrainingError
from distillery.events import AdapterPublished, AdapterRejected, ModelScores, TrainJob
from distillery.manifest import publish_adapter
from distillery.settings import Settings
from distillery.taskspec import TaskSpec
from trainer.base_check import score_base_until_beaten
from trainer.calibrate import calibrate_routed
from trainer.card import adapter_sha256, build_card, write_card
from trainer.data import read_snapshot
from trainer.gate import GateDecision, evaluate_gate, model_scores, refusal_reason
from trainer.gold import GoldRow
from trainer.gold_coverage import refusal, uncovered
from trainer.head import HEAD_WEIGHTS, is_head_adapter, load_head
from trainer.head_train import train_head_adapter
from trainer.loading import load_base, load_tokenizer, resolve_device
from trainer.merge import merged_for_cpu
from trainer.predict import Prediction, predict
from trainer.prediction_cache import PredictionCache
from trainer.status import JobStatus, StatusCallback
from trainer.student import resolve_base_model
from trainer.train import train_adapter

log = logging.getLogger("distillery.trainer")

MIN_GOLD = 20
"""Below this many gold examples no verdict is trusted: the job is rejected with that reason."""


@dataclass(frozen=True)
class Production:
    """The adapter now serving a task (what a candidate must not regress from)."""

    adapter_id: str
    uri: str
    sha256: str
    head_sha256: str | None = None
    base_model: str | None = None
    """The base model it was trained on, as its event names it."""

    @property
    def identity(self) -> str:
        """Its prediction-cache identity, the same :func:`model_identity` gives its folder."""
        return f"adapter:{self.sha256}" + (f":head:{self.head_sha256}" if self.head_sha256 else "")


def adapter_id_for(job: TrainJob) -> str:
    """Publishing is idempotent on the job: one job, one adapter id."""
    return f"{job.job_id}-lora"


def read_gold(uri: str | None, workdir: Path) -> list[GoldRow]:
    """The frozen gold set of a job (may be empty)."""
    if not uri:
        return []
    path = fetch(uri, workdir / "gold.parquet")
    table = pq.read_table(path).to_pylist()
    return [GoldRow(input=r["input"], label=decode(r["label"]), category=str(r["category"]),
                    teacher=decode(r.get("teacher_label"))) for r in table]


def judged_answers(base_path: str, adapter: Path | None, spec: TaskSpec, texts: list[str], device: str) -> list[Prediction]:
    """Answers of the base model (label likelihood) or of an adapter (its head when it has one).

    A head adapter on the CPU answers as it will serve, merged (:mod:`trainer.merge`).
    """
    from peft import PeftModel

    model, _ = load_base(base_path, device)
    classifier = None
    if adapter is not None:
        loader: Any = PeftModel
        model = loader.from_pretrained(model, str(adapter))
        if is_head_adapter(adapter):
            classifier = load_head(adapter, device)
            if device == "cpu":
                model = merged_for_cpu(model)
    tokenizer = load_tokenizer(base_path)
    try:
        return predict(model.eval(), tokenizer, spec, texts, classifier=classifier)
    finally:
        del model


def _judge_base(gold: list[GoldRow], candidate_accuracy: float, base_model: _BaseModel, cached: Any,
                spec: TaskSpec, job_id: str) -> ModelScores:
    """The base model's scores on the gold rows it had to answer (all of them unless clearly beaten)."""
    rows, answers = score_base_until_beaten(gold, candidate_accuracy, lambda todo: cached(todo, base_model))
    if len(rows) < len(gold):
        right = sum(same_answer(p.answer, gold[i].label) for p, i in zip(answers, rows, strict=True))
        log.info("job %s: the base model answered %d of %d gold rows, %d right: clearly beaten, the rest unscored",
                 job_id, len(rows), len(gold), right)
    return model_scores([gold[i] for i in rows], [p.answer for p in answers],
                        min_category_support=spec.gate.min_category_support)


class _BaseModel:
    """The base model's answers (label likelihood), loaded on the first call and kept for the next ones."""

    def __init__(self, base_path: str, spec: TaskSpec, device: str) -> None:
        self.base_path, self.spec, self.device = base_path, spec, device
        self._loaded: tuple[Any, Any] | None = None

    def __call__(self, texts: list[str]) -> list[Prediction]:
        if self._loaded is None:
            model, _ = load_base(self.base_path, self.device)
            self._loaded = (model.eval(), load_tokenizer(self.base_path))
        model, tokenizer = self._loaded
        return predict(model, tokenizer, self.spec, texts)


def model_identity(adapter_dir: Path) -> str:
    """The prediction-cache identity of an adapter: its weights, and its head when it has one."""
    sha = adapter_sha256(adapter_dir)
    if is_head_adapter(adapter_dir):
        return f"adapter:{sha}:head:{sha256_file(adapter_dir / HEAD_WEIGHTS)}"
    return f"adapter:{sha}"


def run_job(job: TrainJob, settings: Settings, *, production: Production | None = None,
            progress: bool = True, status: JobStatus | None = None) -> AdapterPublished | AdapterRejected:
    """Train, judge and store one job's adapter; the returned event is the verdict.

    ``status``, when given, follows the job's phase, step and loss (the worker publishes it).
    """
    status = status or JobStatus(job.job_id, job.task)
    spec = settings.task(job.task)
    device = resolve_device(settings.trainer.device)
    with tempfile.TemporaryDirectory(prefix="distillery-job-") as tmp:
        work = Path(tmp)
        try:
            snap_path = fetch(job.snapshot_uri, work / "snapshot.parquet", expect_sha256=job.snapshot_sha256)
            snapshot = read_snapshot(snap_path, min_train_examples=spec.retrain.min_train_examples, kind=spec.kind,
                                     human_weight=spec.review.human_weight)
            gold = read_gold(job.gold_uri, work)
        except (ArtifactError, TrainingError) as exc:
            return AdapterRejected(task=job.task, job_id=job.job_id, reason=str(exc), failed_rules=["input"])
        if len(gold) < MIN_GOLD:
            return AdapterRejected(task=job.task, job_id=job.job_id, failed_rules=["gold_set"],
                                   reason=f"the gold set has {len(gold)} examples; at least {MIN_GOLD} are needed "
                                          "to judge an adapter (import more with `distillery gold import`)")
        if spec.kind == "classification":
            missing = uncovered(snapshot.train, Counter(g.category for g in gold),
                                min_share=spec.review.gold_common_share, min_rows=spec.gate.min_category_support)
            if missing:
                return AdapterRejected(task=job.task, job_id=job.job_id, failed_rules=["gold_coverage"],
                                       reason=refusal(missing, len(gold)))
        base_path = resolve_base_model(job.base_model or spec.student.base_model,
                                       settings.model_dir)
        adapter_dir = work / "adapter"
        log.info("job %s: training on %d examples (%s)", job.job_id, len(snapshot.train), device)
        status.enter("training")
        production_dir = None
        if spec.head == "classifier":
            base_name = job.base_model or spec.student.base_model
            if (spec.student.warm_start and production is not None and production.head_sha256
                    and production.base_model == base_name):
                try:
                    production_dir = fetch_dir(production.uri, work / "production")
                except ArtifactError as exc:
                    log.warning("job %s: cannot fetch the serving adapter %s to start from (%s); training from the "
                                "base model", job.job_id, production.adapter_id, exc)
            result = train_head_adapter(base_path, snapshot.train, spec, adapter_dir, device=device,
                                        progress=progress, callbacks=[StatusCallback(status)],
                                        start_from=production_dir)
        else:
            result = train_adapter(base_path, snapshot.train, spec, adapter_dir, device=device, progress=progress,
                                   callbacks=[StatusCallback(status)])
        texts = [g.input for g in gold]
        log.info("job %s: judging on %d gold examples", job.job_id, len(gold))
        status.enter("judging")
        # the base model and the production adapter answer as they did for earlier jobs: score each input once
        cache = PredictionCache(settings.data_dir / "trainer" / "predictions")

        def key(model: str) -> str:
            return cache.key(model, device, spec.kind, spec.labels, spec.student.system_prompt)

        sha = adapter_sha256(adapter_dir)
        cand = cache.predict(key(model_identity(adapter_dir)),
                             texts, lambda todo: judged_answers(base_path, adapter_dir, spec, todo, device))
        # the base answers by label likelihood (slow): only until it is clearly beaten (trainer.base_check)
        cand_accuracy = sum(same_answer(p.answer, g.label) for p, g in zip(cand, gold, strict=True)) / len(gold)
        base_scores = _judge_base(gold, cand_accuracy, _BaseModel(base_path, spec, device),
                                  lambda todo, score: cache.predict(key(f"base:{base_path}"), todo, score),
                                  spec, job.job_id)
        prod = None
        if production is not None:
            served = production

            def production_answers(todo: list[str]) -> list[Any]:
                folder = production_dir or fetch_dir(served.uri, work / "production")
                return judged_answers(base_path, folder, spec, todo, device)

            prod = cache.predict(key(production.identity), texts, production_answers)
        # with confidences and the pinned teacher answers the gate judges the routed system
        decision: GateDecision = evaluate_gate(
            gold, spec.gate, candidate=[p.answer for p in cand], base_scores=base_scores,
            production=[p.answer for p in prod] if prod is not None else None,
            candidate_confidence=[p.confidence for p in cand],
            production_confidence=[p.confidence for p in prod] if prod is not None else None,
        )
        # the router's threshold keeps the promise the gate judged (the routing target without a teacher)
        teacher_ok = [same_answer(g.teacher, g.label) for g in gold] if all(g.teacher is not None for g in gold) else None
        calibration = calibrate_routed([p.confidence for p in cand],
                                       [same_answer(p.answer, g.label) for p, g in zip(cand, gold, strict=True)],
                                       teacher_ok, max_below_teacher=spec.gate.max_below_teacher,
                                       target_accuracy=spec.routing.target_accuracy)
        summary = result.summary()
        adapter_id = adapter_id_for(job)
        head = _head_fields(adapter_dir)
        if result.warm_started and production is not None:
            head["warm_start_from"] = production.adapter_id
        card = build_card(adapter_id=adapter_id, job=job, spec=spec, base_model=base_path, adapter_sha=sha,
                          training=summary, metrics=decision.metrics, failed_rules=decision.failed,
                          router_threshold=calibration.threshold, head=head)
        write_card(adapter_dir, card)
        if not decision.promoted:
            return AdapterRejected(task=job.task, job_id=job.job_id, reason=refusal_reason(decision, spec.gate),
                                   failed_rules=decision.failed, metrics=decision.metrics, training=summary)
        status.enter("publishing")
        # a manifest (every file's SHA-256) goes with the folder; the event announces its digest
        uri, manifest_sha = publish_adapter(ArtifactStore(settings.artifact_root), adapter_dir,
                                            f"adapters/{job.task}/{adapter_id}")
        return AdapterPublished(
            task=job.task, adapter_id=adapter_id, job_id=job.job_id, uri=uri, sha256=sha,
            base_model=spec.student.base_model if job.base_model is None else job.base_model,
            student_prompt=spec.student.system_prompt, snapshot_uri=job.snapshot_uri,
            snapshot_at_ms=job.created_at_ms,
            card_uri=f"{uri}/card.json", metrics=decision.metrics, training=summary,
            router_threshold=calibration.threshold, router_coverage=calibration.coverage,
            manifest_sha256=manifest_sha, **head,
        )


def _head_fields(adapter_dir: Path) -> dict[str, Any]:
    """What the adapter event and the card say about an adapter's head."""
    if not is_head_adapter(adapter_dir):
        return {"head": "lm"}
    classifier = load_head(adapter_dir)
    return {"head": "classifier", "head_targets": classifier.meta.targets, "labels": list(classifier.labels),
            "head_sha256": sha256_file(adapter_dir / HEAD_WEIGHTS)}
