"""An adapter with a classifier head: trained, published, fetched, verified, hot-swapped, same answers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devkit.tiny_adapters import TOY_LABELS, TOY_PROMPT, toy_spec, toy_texts
from devkit.tiny_student import build_tiny_model
from distillery.artifacts import ArtifactStore, sha256_file
from distillery.errors import IntegrityError
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from distillery.manifest import publish_adapter
from distillery.settings import load_settings
from serving.adapters.fetch import fetch_adapter
from serving.adapters.inprocess import InProcessServer
from trainer.card import adapter_sha256
from trainer.data import Example
from trainer.head import HEAD_WEIGHTS
from trainer.head_train import train_head_adapter
from trainer.job import judged_answers
from trainer.predict import predict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[3]
TEXTS = toy_texts(16, seed=9)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, AdapterPublished, Path]:
    root = tmp_path_factory.mktemp("head-serving")
    base = str(build_tiny_model(root / "base", toy_texts(96, 1) + TOY_LABELS + [TOY_PROMPT], seed=0))
    spec = toy_spec().model_copy(update={"sft": {"learning_rate": 1e-2, "max_steps": 12,
                                                 "per_device_train_batch_size": 8, "max_length": 64}})
    train = [Example(str(i), t, TOY_LABELS[i % 3], TOY_LABELS[i % 3]) for i, t in enumerate(toy_texts(48, 1))]
    folder = root / "adapter"
    train_head_adapter(base, train, spec, folder, device="cpu", progress=False)
    uri, manifest = publish_adapter(ArtifactStore(str(root / "artifacts")), folder, "adapters/toy/toy-head")
    event = AdapterPublished(
        task="toy", adapter_id="toy-head", job_id="job-head", uri=uri, sha256=adapter_sha256(folder),
        base_model=base, student_prompt=TOY_PROMPT, manifest_sha256=manifest,
        metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)), router_threshold=0.5,
        head="classifier", head_targets="hard", labels=TOY_LABELS, head_sha256=sha256_file(folder / HEAD_WEIGHTS))
    return base, event, folder


@pytest.mark.parametrize("merge", [True, False], ids=["merged", "through-peft"])
def test_a_head_adapter_served_in_process_answers_as_the_trainer_did(
        published: tuple[str, AdapterPublished, Path], tmp_path: Path, merge: bool) -> None:
    base, event, folder = published
    spec = toy_spec("toy")
    # the trainer's own answers, from the folder it saved, as the gate judged them
    reference = judged_answers(base, folder, spec, TEXTS, "cpu")
    settings = load_settings(ROOT / "distillery.toml", env={}).with_overrides(
        data_dir=tmp_path / "data", tasks={"toy": spec})
    settings = settings.model_copy(update={"serving": settings.serving.model_copy(update={"merge_heads": merge})})
    local = fetch_adapter(event, tmp_path / "cache")  # fetched and verified against the manifest
    server = InProcessServer(settings, base, device="cpu")
    base_before = [p.answer for p in server.predict("toy", TEXTS)]
    server.load(local)
    assert server.merged("toy") is merge
    used, got = server.predict_served("toy", TEXTS)
    assert used is not None and used.head == "classifier"
    assert [p.answer for p in got] == [p.answer for p in reference]
    assert all(abs(a.confidence - b.confidence) < 1e-5 for a, b in zip(got, reference, strict=True))
    assert {p.answer for p in got} <= set(TOY_LABELS)
    # one request at a time runs past the cached prompt prefix (trainer.prefix): the same answers
    alone = [server.predict("toy", [t])[0] for t in TEXTS]
    assert [p.answer for p in alone] == [p.answer for p in reference]
    assert all(abs(a.confidence - b.confidence) < 1e-4 for a, b in zip(alone, reference, strict=True))
    # merging never touches the shared base: the base model still answers as before the adapter came
    with server._lock, server._model.disable_adapter():
        after = [p.answer for p in predict(server._model, server.tokenizer, toy_spec("toy"), TEXTS)]
    assert after == base_before


def test_a_tampered_head_is_refused(published: tuple[str, AdapterPublished, Path], tmp_path: Path) -> None:
    _, event, folder = published
    copy = tmp_path / "tampered"
    shutil.copytree(folder, copy)
    head = copy / HEAD_WEIGHTS
    data = bytearray(head.read_bytes())
    data[-1] ^= 0xFF
    head.write_bytes(bytes(data))
    tampered = event.model_copy(update={"uri": str(copy), "manifest_sha256": None})
    with pytest.raises(IntegrityError, match="head.safetensors"):
        fetch_adapter(tampered, tmp_path / "cache")

