"""The classifier head on the tiny model: it learns, only LoRA and head weights move, one pass per batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from trainer_toy import LABELS, SYSTEM_PROMPT, toy_examples, toy_spec
from transformers import TrainerCallback

from distillery.errors import ArtifactError, TrainingError
from trainer.head import HEAD_META, HEAD_WEIGHTS, classify, is_head_adapter, load_head, prompt_ids
from trainer.head_train import mixed_loss, soft_targets, train_head_adapter
from trainer.loading import load_tokenizer, load_with_adapter
from trainer.predict import predict
from trainer.prefix import PrefixCache
from trainer.train import TrainResult

GOLD = toy_examples(30, seed=2)


class Capture(TrainerCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] = {}
        self.after: dict[str, torch.Tensor] = {}
        self.trainable: set[str] = set()

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        self.before = {k: v.detach().clone() for k, v in model.named_parameters()}

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        self.after = {k: v.detach().clone() for k, v in model.named_parameters()}
        self.trainable = {k for k, v in model.named_parameters() if v.requires_grad}


@pytest.fixture(scope="module")
def trained(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Capture, Path]:
    capture = Capture()
    out = tmp_path_factory.mktemp("head-adapter")
    examples = toy_examples(48, seed=1)
    # half the rows carry a teacher confidence: soft targets are mixed in
    examples = [e if i % 2 else type(e)(e.event_id, e.input, e.label, e.category, 0.8)
                for i, e in enumerate(examples)]
    result = train_head_adapter(tiny_model, examples, toy_spec(num_train_epochs=10), out, device="cpu",
                                callbacks=[capture], progress=False)
    return result, capture, out


def test_the_loss_falls_and_lora_and_head_weights_move_while_the_base_stays(
        trained: tuple[TrainResult, Capture, Path]) -> None:
    result, capture, _ = trained
    losses = [loss for _, loss in result.losses]
    assert result.steps == 60 and len(losses) == 60  # 48 rows / batch 8 x 10 epochs, logged every step
    assert sum(losses[-6:]) / 6 < 0.5 * sum(losses[:6]) / 6
    assert result.tokens > 0
    moved = {k for k in capture.before if not torch.equal(capture.before[k], capture.after[k])}
    assert capture.trainable, "nothing was trainable"
    assert moved == capture.trainable  # every trainable weight moved, nothing else did
    assert any("lora_" in k for k in moved) and {"head.weight", "head.bias"} <= moved
    assert all("lora_" in k or k.startswith("head.") for k in capture.trainable)


def test_the_saved_adapter_carries_its_head_and_answers_the_gold_set(
        trained: tuple[TrainResult, Capture, Path], tiny_model: str) -> None:
    _, _, folder = trained
    assert is_head_adapter(folder) and (folder / HEAD_WEIGHTS).is_file()
    head = load_head(folder)
    assert head.labels == tuple(LABELS) and head.meta.targets == "soft"
    model = load_with_adapter(tiny_model, folder, "cpu")
    tok = load_tokenizer(tiny_model)
    answers = classify(model, tok, head, SYSTEM_PROMPT, [g.input for g in GOLD])
    accuracy = sum(a[0] == g.label for a, g in zip(answers, GOLD, strict=True)) / len(GOLD)
    assert accuracy >= 0.9
    for label, conf, probs in answers:
        assert abs(sum(probs) - 1.0) < 1e-5 and conf == max(probs) and label == LABELS[probs.index(conf)]


def test_batched_and_single_answers_agree_and_a_batch_is_one_forward_pass(
        trained: tuple[TrainResult, Capture, Path], tiny_model: str) -> None:
    _, _, folder = trained
    model = load_with_adapter(tiny_model, folder, "cpu")
    tok = load_tokenizer(tiny_model)
    head = load_head(folder)
    texts = [g.input for g in GOLD[:12]]
    backbone = model.get_base_model().model
    calls = []
    hook = backbone.register_forward_hook(lambda *a: calls.append(1))
    try:
        batched = classify(model, tok, head, SYSTEM_PROMPT, texts, batch_size=32)
    finally:
        hook.remove()
    assert len(calls) == 1  # twelve answers, one backbone pass
    single = [classify(model, tok, head, SYSTEM_PROMPT, [t])[0] for t in texts]
    for (la, ca, _), (lb, cb, _) in zip(batched, single, strict=True):
        assert la == lb and abs(ca - cb) < 1e-4
    spec = toy_spec()
    preds = predict(model, tok, spec, texts, classifier=head)
    assert [p.answer for p in preds] == [b[0] for b in batched]


def test_a_head_for_other_labels_is_refused(trained: tuple[TrainResult, Capture, Path], tiny_model: str) -> None:
    _, _, folder = trained
    model = load_with_adapter(tiny_model, folder, "cpu")
    spec = toy_spec().model_copy(update={"labels": ["metal", "fruit", "bird"]})
    with pytest.raises(TrainingError, match="retrain the adapter"):
        predict(model, load_tokenizer(tiny_model), spec, ["iron 1"], classifier=load_head(folder))


def test_a_damaged_head_is_an_artifact_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / HEAD_META).write_text('{"labels": ["a", "b"], "hidden_size": 4}')
    with pytest.raises(ArtifactError, match="head.safetensors"):
        load_head(tmp_path)


def test_soft_targets_and_the_mixed_loss() -> None:
    t = soft_targets(torch.tensor([0, 2]), torch.tensor([0.9, 0.1]), 3)
    assert torch.allclose(t, torch.tensor([[0.9, 0.05, 0.05], [1 / 3, 1 / 3, 1 / 3]]), atol=1e-6)
    logits = torch.tensor([[3.0, 0.0, 0.0]])
    hard = mixed_loss(logits, torch.tensor([0]), torch.tensor([-1.0]), 0.5)
    soft = mixed_loss(logits, torch.tensor([0]), torch.tensor([0.6]), 0.5)
    # a teacher only 60% sure pulls the loss up for a student 91% sure: the student learns to be less sure
    assert float(soft) > float(hard)
    assert float(mixed_loss(logits, torch.tensor([0]), torch.tensor([0.6]), 0.0)) == pytest.approx(float(hard))


def test_a_long_prompt_keeps_its_end(tiny_model: str) -> None:
    tok = load_tokenizer(tiny_model)
    full = prompt_ids(tok, SYSTEM_PROMPT, "apple " * 200, 10_000)
    cut = prompt_ids(tok, SYSTEM_PROMPT, "apple " * 200, 40)
    assert len(cut) == 40 and cut[-8:] == full[-8:] and cut[:32] == full[:32]


def test_a_prefix_cache_runs_each_prompt_past_the_shared_prefix_and_gives_the_same_answers(
        trained: tuple[TrainResult, Capture, Path], tiny_model: str) -> None:
    _, _, folder = trained
    model = load_with_adapter(tiny_model, folder, "cpu")
    tok = load_tokenizer(tiny_model)
    plain, cached = load_head(folder), load_head(folder)
    cached.prefix = PrefixCache()
    texts = [g.input for g in GOLD[:9]]
    full = [len(prompt_ids(tok, SYSTEM_PROMPT, t, 256)) for t in texts]
    seen: list[int] = []
    hook = model.get_base_model().model.register_forward_hook(
        lambda mod, args, kwargs, out: seen.append(int(kwargs["input_ids"].shape[1])), with_kwargs=True)
    try:
        cached_single = [classify(model, tok, cached, SYSTEM_PROMPT, [t])[0] for t in texts]
        cached_batch = classify(model, tok, cached, SYSTEM_PROMPT, texts, batch_size=4)
    finally:
        hook.remove()
    prefix = len(cached.prefix.get(model.get_base_model(), None, SYSTEM_PROMPT).ids)  # type: ignore[union-attr]
    assert prefix > 0
    # the prefix ran once; every answer after it ran over its own tokens only (3 batches of <= 4 rows)
    assert seen[0] == prefix and len(seen) == 1 + len(texts) + 3
    assert seen[1 : 1 + len(texts)] == [n - prefix for n in full]
    reference = classify(model, tok, plain, SYSTEM_PROMPT, texts, batch_size=32)
    for (la, ca, pa), (lb, cb, pb), (lc, cc, _) in zip(reference, cached_single, cached_batch, strict=True):
        assert la == lb == lc and abs(ca - cb) < 1e-4 and abs(ca - cc) < 1e-4
        assert max(abs(x - y) for x, y in zip(pa, pb, strict=True)) < 1e-4
    # a prompt cut to fit max_length no longer starts with the prefix: it runs whole, same answer
    long_text = " ".join(texts) * 8
    cut = classify(model, tok, cached, SYSTEM_PROMPT, [long_text], max_length=prefix + 4)
    assert cut == classify(model, tok, plain, SYSTEM_PROMPT, [long_text], max_length=prefix + 4)


def test_tuning_the_top_layers_adapts_only_them_and_leaves_the_layers_below_untouched(
        tmp_path: Path) -> None:
    from devkit.tiny_student import build_tiny_model

    texts = [e.input for e in toy_examples(96, seed=1)] + LABELS + [SYSTEM_PROMPT]
    base = str(build_tiny_model(tmp_path / "base", texts, layers=3, seed=0))
    capture = Capture()
    spec = toy_spec(num_train_epochs=6)
    spec = spec.model_copy(update={"student": spec.student.model_copy(update={"tune_top_layers": 1})})
    result = train_head_adapter(base, toy_examples(48, seed=1), spec, tmp_path / "adapter", device="cpu",
                                callbacks=[capture], progress=False)
    losses = [loss for _, loss in result.losses]
    assert sum(losses[-4:]) / 4 < 0.7 * sum(losses[:4]) / 4
    lora = {k for k in capture.trainable if "lora_" in k}
    assert lora and all(".layers.2." in k for k in lora)  # the top layer of three, every linear layer in it
    assert {k.split(".layers.2.")[1].split(".lora_")[0] for k in lora} == {
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
    moved = {k for k in capture.before if not torch.equal(capture.before[k], capture.after[k])}
    assert moved == capture.trainable
    # the saved adapter still loads and answers through its head
    answers = classify(load_with_adapter(base, tmp_path / "adapter", "cpu"), load_tokenizer(base),
                       load_head(tmp_path / "adapter"), SYSTEM_PROMPT, [g.input for g in GOLD])
    assert {a[0] for a in answers} <= set(LABELS)


def test_top_layers_names_the_linear_modules_and_refuses_a_pattern(tiny_model: str) -> None:
    from distillery.errors import ConfigError
    from trainer.configs import top_layers
    from trainer.loading import load_base

    model, _ = load_base(tiny_model, "cpu")  # two layers
    assert top_layers(model, 1, "all-linear", "t") == {
        "target_modules": ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
        "layers_to_transform": [1]}
    assert top_layers(model, 1, ["q_proj"], "t") == {"target_modules": ["q_proj"], "layers_to_transform": [1]}
    assert top_layers(model, 2, "all-linear", "t") == {}  # no more layers than asked: all of them
    with pytest.raises(ConfigError, match="tune_top_layers"):
        top_layers(model, 1, ".*proj", "t")
