"""QLoRA throughput and peak memory on one CUDA GPU: plain recipe vs the optimised one.

    python bench/gpu_qlora_bench.py [--sizes 0.5b,1.5b] [--steps 8] [--out bench/results/gpu_qlora.json]

Random-initialised Qwen2-shaped models (0.5B and 1.5B, the real configs with
random weights: no download) are loaded in 4-bit NF4 with double quantisation
and bf16 compute, with LoRA r=16 on every linear layer and gradient
checkpointing. Each step sees at most 8 sequences x 1024 tokens; the examples
have mixed lengths (128..1024 tokens, the last 30% the answer), as real data does.

Variants, each in its own process (so peak memory and kernel patches do not leak):

* ``plain``: the usual Hugging Face recipe: ``prepare_model_for_kbit_training``,
  batches of 8 padded to their longest, the model's own loss over full logits.
* ``trl``: trl's SFTTrainer with the same model: BFD packing into 8 rows of 1024
  (padding-free), trl's fused LM head (only answer positions are projected),
  FlashAttention 2 when ``flash_attn`` is installed (else SDPA), Liger kernels
  when ``liger_kernel`` is installed.
* ``trl_bf16_norms``: as ``trl``, but norms and embeddings stay bf16 instead of
  being upcast to fp32 by ``prepare_model_for_kbit_training``.

Reported per (size, variant): real (non-pad) tokens/s over the timed steps (after
warm-up), peak allocated GPU memory, and the ratio to ``plain``. ``--smoke`` runs
a tiny model on the CPU without quantisation to check the script itself.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random weights: nothing to download, ever
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the workers do (see console/threads.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES: dict[str, dict[str, Any]] = {
    # Qwen2-0.5B and Qwen2-1.5B shapes
    "0.5b": {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
    },
    "1.5b": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
    },
    "smoke": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 1024,
    },
}
VARIANTS = ("plain", "trl", "trl_bf16_norms")
BATCH, SEQ = 8, 1024
WARMUP = 2
LORA: dict[str, Any] = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}


def make_examples(n: int, vocab: int, seq: int, seed: int = 0) -> list[dict[str, list[int]]]:
    """Token sequences of mixed length; labels -100 on the first 70% (the prompt)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        length = rng.randint(seq // 8, seq)
        ids = [rng.randrange(1, vocab) for _ in range(length)]
        cut = int(length * 0.7)
        rows.append({"input_ids": ids, "labels": [-100] * cut + ids[cut:]})
    return rows


def build_model_dir(size: str, folder: Path, device: str) -> Path:
    """Save a random-initialised Qwen2 of ``size`` (bf16) and a minimal tokenizer into ``folder``."""
    import torch
    from tokenizers import Tokenizer, models
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config

    shape = SIZES[size]
    config = Qwen2Config(
        **shape,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    vocab = {"<pad>": 0, "<eos>": 1, **{f"t{i}": i for i in range(2, 64)}}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<pad>")),
        pad_token="<pad>",
        eos_token="<eos>",
    )
    tokenizer.save_pretrained(folder)
    del model
    return folder


def load_model(folder: Path, *, smoke: bool, upcast: bool, attn: str) -> Any:
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    from trainer.loading import nf4_config

    if smoke:
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="sdpa")
    model = AutoModelForCausalLM.from_pretrained(
        folder, quantization_config=nf4_config(), dtype=torch.bfloat16, device_map={"": 0}, attn_implementation=attn
    )
    if upcast:
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    return model


def attention_implementation(smoke: bool) -> str:
    if not smoke and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


class Timer:
    """Seconds and tokens over the steps after warm-up, synchronising the GPU at each edge."""

    def __init__(self, cuda: bool) -> None:
        self.cuda, self.seconds, self.tokens, self._t = cuda, 0.0, 0, 0.0

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    def begin(self) -> None:
        self._sync()
        self._t = time.perf_counter()

    def end(self, step: int) -> None:
        self._sync()
        if step > WARMUP:
            self.seconds += time.perf_counter() - self._t

    def count(self, step: int, tokens: int) -> None:
        if step > WARMUP:
            self.tokens += tokens


def run_plain(folder: Path, rows: list[dict[str, list[int]]], steps: int, smoke: bool) -> Timer:
    import torch
    from peft import LoraConfig, get_peft_model

    model = load_model(folder, smoke=smoke, upcast=True, attn=attention_implementation(smoke))
    if smoke:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **LORA))
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    timer = Timer(device.type == "cuda")
    model.train()
    for step in range(1, steps + WARMUP + 1):
        batch = rows[(step - 1) * BATCH : step * BATCH]
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            n = len(r["input_ids"])
            ids[i, :n], labels[i, :n], mask[i, :n] = (
                torch.tensor(r["input_ids"]),
                torch.tensor(r["labels"]),
                1,
            )
        timer.begin()
        loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        timer.end(step)
        timer.count(step, int(mask.sum()))
    return timer


def run_trl(
    folder: Path, rows: list[dict[str, list[int]]], steps: int, smoke: bool, upcast: bool, seq: int
) -> Timer:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    liger = importlib.util.find_spec("liger_kernel") is not None and not smoke
    model = load_model(folder, smoke=smoke, upcast=upcast, attn=attention_implementation(smoke))
    timer = Timer(not smoke)

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            timer.begin()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            timer.end(state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            # trl logs the running token count after on_step_end; logging_steps=1 gives one per step
            if logs and "num_tokens" in logs:
                seen[0], before = float(logs["num_tokens"]), seen[0]
                timer.count(state.global_step, int(seen[0] - before))

    seen = [0.0]
    with tempfile.TemporaryDirectory() as scratch:
        args = SFTConfig(
            output_dir=scratch,
            max_steps=steps + WARMUP,
            per_device_train_batch_size=BATCH,
            max_length=seq,
            packing=True,
            packing_strategy="bfd",
            learning_rate=1e-4,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            gradient_checkpointing=True,
            bf16=not smoke,
            use_cpu=smoke,
            use_liger_kernel=liger,
            disable_tqdm=True,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=AutoTokenizer.from_pretrained(folder),
            peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA),
            callbacks=[Clock()],
        )
        trainer.train()
    return timer


def one(size: str, variant: str, steps: int, smoke: bool) -> dict[str, Any]:
    """Measure one (size, variant) in this process."""
    import torch

    shape = SIZES[size]
    seq = 128 if smoke else SEQ
    rows = make_examples(BATCH * (steps + WARMUP) * 4, shape["vocab_size"], seq)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_model_dir(size, Path(tmp), "cpu" if smoke else "cuda")
        gc.collect()
        if not smoke:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        if variant == "plain":
            timer = run_plain(folder, rows, steps, smoke)
        else:
            timer = run_trl(folder, rows, steps, smoke, upcast=variant == "trl", seq=seq)
        peak = torch.cuda.max_memory_allocated() / 2**30 if not smoke else None
    return {
        "size": size,
        "variant": variant,
        "timed_steps": steps,
        "tokens": timer.tokens,
        "seconds": round(timer.seconds, 3),
        "tokens_per_s": round(timer.tokens / timer.seconds, 1) if timer.seconds else 0,
        "peak_gib": None if peak is None else round(peak, 2),
        "attention": attention_implementation(smoke),
        "liger": importlib.util.find_spec("liger_kernel") is not None and not smoke,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0.5b,1.5b")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=8, help="timed steps after warm-up")
    parser.add_argument("--out", type=Path, default=Path("bench/results/gpu_qlora.json"))
    parser.add_argument(
        "--smoke", action="store_true", help="tiny model on the CPU: checks the script, no GPU"
    )
    parser.add_argument("--one", nargs=2, metavar=("SIZE", "VARIANT"), help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)

    import torch

    if not ns.smoke and not torch.cuda.is_available():
        print(
            "gpu_qlora_bench: needs a CUDA GPU, and torch sees none (torch.cuda.is_available() is False). "
            "Run it on a CUDA machine, or add --smoke to check the script on the CPU.",
            file=sys.stderr,
        )
        return 2
    if ns.one:
        print("RESULT " + json.dumps(one(ns.one[0], ns.one[1], ns.steps, ns.smoke)), flush=True)
        return 0

    sizes = ["smoke"] if ns.smoke else ns.sizes.split(",")
    results = []
    for size in sizes:
        for variant in ns.variants.split(","):
            cmd = [sys.executable, __file__, "--one", size, variant, "--steps", str(ns.steps)]
            cmd += ["--smoke"] if ns.smoke else []
            proc = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
                results.append({"size": size, "variant": variant, "error": " | ".join(tail)})
            else:
                results.append(json.loads(lines[-1][len("RESULT ") :]))
            print(json.dumps(results[-1]), flush=True)
    plain = {r["size"]: r for r in results if r["variant"] == "plain" and "error" not in r}
    for r in results:
        base = plain.get(r["size"])
        if base and "error" not in r and base["tokens_per_s"]:
            r["speedup_vs_plain"] = round(r["tokens_per_s"] / base["tokens_per_s"], 2)
    device = "cpu (smoke)" if ns.smoke else torch.cuda.get_device_name(0)
    report = {
        "benchmark": "gpu_qlora",
        "device": device,
        "batch": BATCH,
        "seq": 128 if ns.smoke else SEQ,
        "results": results,
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'size':6s} {'variant':16s} {'tokens/s':>10s} {'peak GiB':>9s} {'x plain':>8s}")
    for r in results:
        if "error" in r:
            print(f"{r['size']:6s} {r['variant']:16s} failed: {r['error']}")
        else:
            print(
                f"{r['size']:6s} {r['variant']:16s} {r['tokens_per_s']:10.1f} {r['peak_gib']!s:>9s} "
                f"{r.get('speedup_vs_plain', '-')!s:>8s}"
            )
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
