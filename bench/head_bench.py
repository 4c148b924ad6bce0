"""The classifier head against label likelihood: cost per answer and learning per training second.

    python bench/head_bench.py [--quick] [--skip-learning] [--out bench/results/head.json]

Answer cost (built-in student, CPU, the same inputs): milliseconds per answer
for one request alone and for a batch, by the classifier head
(:mod:`trainer.head`: one forward pass over the prompt, whatever the label
set) and by label likelihood (:mod:`trainer.scoring`: every label's tokens
after the prompt), on the demo's 43 categories and on a 77-label set of
support intents. The head is untrained for this part: its cost does not depend
on its weights. Aims: the head as served (its prompt prefix cached,
:mod:`trainer.prefix`) at least 10x cheaper on 43 labels, 20x on 77.

Learning (same base, same seeded examples from the demo's traffic generator,
same LoRA and [sft] settings): gold accuracy of the head path and of the LM
path (SFT, judged by label likelihood) against training seconds. Aim: the head
at least as accurate at equal training time: the head is trained the same
steps, then again with as many steps as fit in the LM path's training seconds
(``head_equal_time``, what the aim compares). The head is also trained with
LoRA on every layer (``tune_top_layers = 0``), the same steps: the seconds a
step saves by adapting the top layers only, and the accuracy it costs per step.

Both parts run in the same process, one after the other; the baseline of each
figure (label likelihood, the LM path) is measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "--dedicated-cores" in sys.argv:  # as a replica with [serving] dedicated_cores: OpenMP's own default (console/threads.py)
    os.environ.pop("OMP_WAIT_POLICY", None)
else:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the workers do (see console/threads.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from devkit.sim.transactions import TransactionGenerator
from distillery.settings import load_settings
from distillery.taskspec import DEFAULT_STUDENT
from trainer.data import Example
from trainer.head import Classifier, HeadMeta, classify, init_head, load_head
from trainer.head_train import train_head_adapter
from trainer.loading import load_base, load_tokenizer, load_with_adapter
from trainer.prefix import PrefixCache
from trainer.scoring import score_labels
from trainer.student import resolve_base_model
from trainer.train import train_adapter

PROMPT = "Categorise the bank transaction."
_VERBS = ["activate", "cancel", "change", "top_up", "verify", "dispute", "report", "order", "unblock", "transfer",
          "refund"]
_NOUNS = ["card", "pin", "payment", "transfer", "account", "address", "identity"]


def intent_labels(n: int = 77) -> list[str]:
    """``n`` support-intent names as long as a real intent set's (``dispute_card_payment_pending``)."""
    out = [f"{v}_{o}" + ("_pending" if (i + j) % 3 == 0 else "") for i, v in enumerate(_VERBS)
           for j, o in enumerate(_NOUNS)]
    return out[:n]


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def answer_cost(base: str, labels: list[str], texts: list[str], *, ll_single: int, ll_batch: int) -> dict[str, Any]:
    """ms per answer, alone and batched, for the head and for label likelihood."""
    model, _ = load_base(base, "cpu")
    tok = load_tokenizer(base)
    head = Classifier(init_head(model, tok, labels, PROMPT).eval(),
                      HeadMeta(labels=tuple(labels), hidden_size=model.config.hidden_size))
    classify(model, tok, head, PROMPT, texts[:2])  # warm-up
    score_labels(model, tok, texts[:1], labels, PROMPT)
    head_single = [timed(lambda t=t: classify(model, tok, head, PROMPT, [t])) for t in texts[:32]]
    cached = Classifier(head.head, head.meta, PrefixCache())  # as served: the prompt prefix computed once
    classify(model, tok, cached, PROMPT, texts[:2])
    cached_single = [timed(lambda t=t: classify(model, tok, cached, PROMPT, [t])) for t in texts[:32]]
    cached_batch = timed(lambda: classify(model, tok, cached, PROMPT, texts, batch_size=32)) / len(texts)
    head_batch = timed(lambda: classify(model, tok, head, PROMPT, texts, batch_size=32)) / len(texts)
    ll_single_s = [timed(lambda t=t: score_labels(model, tok, [t], labels, PROMPT)) for t in texts[:ll_single]]
    ll_batch_s = timed(lambda: score_labels(model, tok, texts[:ll_batch], labels, PROMPT)) / ll_batch
    out = {
        "labels": len(labels),
        "head_ms_single_p50": 1000 * statistics.median(head_single),
        "head_ms_batched": 1000 * head_batch,
        "head_prefix_cached_ms_single_p50": 1000 * statistics.median(cached_single),
        "head_prefix_cached_ms_batched": 1000 * cached_batch,
        "likelihood_ms_single_p50": 1000 * statistics.median(ll_single_s),
        "likelihood_ms_batched": 1000 * ll_batch_s,
    }
    out["speedup_single"] = out["likelihood_ms_single_p50"] / out["head_ms_single_p50"]
    out["speedup_batched"] = out["likelihood_ms_batched"] / out["head_ms_batched"]
    out["speedup_single_served"] = out["likelihood_ms_single_p50"] / out["head_prefix_cached_ms_single_p50"]
    out["speedup_batched_served"] = out["likelihood_ms_batched"] / out["head_prefix_cached_ms_batched"]
    return out


def data(n_train: int, n_gold: int, seed: int = 0) -> tuple[list[Example], list[tuple[str, str]]]:
    gen = TransactionGenerator(seed=seed)
    train = [Example(str(i), t.text, t.category, t.category) for i, t in enumerate(gen.stream(n_train))]
    gold = [(t.text, t.category) for t in TransactionGenerator(seed=seed + 1).stream(n_gold)]
    return train, gold


def learning(base: str, steps: int, n_train: int, n_gold: int) -> dict[str, Any]:
    settings = load_settings(Path(__file__).resolve().parents[1] / "distillery.toml")
    spec = settings.task("transactions")
    spec = spec.model_copy(update={"sft": {**spec.sft, "max_steps": steps}})
    train, gold = data(n_train, n_gold)
    texts, truth = [g[0] for g in gold], [g[1] for g in gold]
    out: dict[str, Any] = {"steps": steps, "train_examples": len(train), "gold": len(gold)}
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        lm = train_adapter(base, train, spec, Path(tmp) / "lm", device="cpu", progress=False)
        model = load_with_adapter(base, Path(tmp) / "lm", "cpu")
        tok = load_tokenizer(base)
        judged = time.perf_counter()
        preds = score_labels(model, tok, texts, spec.labels, spec.student.system_prompt)
        lm_judge = time.perf_counter() - judged
        out["lm"] = {"train_seconds": lm.seconds, "gold_accuracy": _acc([p.label for p in preds], truth),
                     "judge_seconds": lm_judge}
        del model
        torch.manual_seed(0)
        hd = train_head_adapter(base, train, spec, Path(tmp) / "head", device="cpu", progress=False)
        model = load_with_adapter(base, Path(tmp) / "head", "cpu")
        judged = time.perf_counter()
        answers = classify(model, tok, load_head(Path(tmp) / "head"), spec.student.system_prompt, texts)
        head_judge = time.perf_counter() - judged
        out["head"] = {"train_seconds": hd.seconds, "gold_accuracy": _acc([a[0] for a in answers], truth),
                       "judge_seconds": head_judge, "tune_top_layers": spec.student.tune_top_layers}
        # the same head with LoRA on every layer: what adapting the top layers only saves per step
        every = spec.model_copy(update={"student": spec.student.model_copy(update={"tune_top_layers": 0})})
        del model
        torch.manual_seed(0)
        al = train_head_adapter(base, train, every, Path(tmp) / "all", device="cpu", progress=False)
        model = load_with_adapter(base, Path(tmp) / "all", "cpu")
        answers = classify(model, tok, load_head(Path(tmp) / "all"), spec.student.system_prompt, texts)
        out["head_all_layers"] = {"train_seconds": al.seconds,
                                  "gold_accuracy": _acc([a[0] for a in answers], truth)}
        # the aim's own comparison: the head given the LM path's training time (as many steps as fit in it)
        fit = max(1, round(steps * lm.seconds / hd.seconds))
        timed_spec = spec.model_copy(update={"sft": {**spec.sft, "max_steps": fit}})
        del model
        torch.manual_seed(0)
        eq = train_head_adapter(base, train, timed_spec, Path(tmp) / "equal", device="cpu", progress=False)
        model = load_with_adapter(base, Path(tmp) / "equal", "cpu")
        answers = classify(model, tok, load_head(Path(tmp) / "equal"), spec.student.system_prompt, texts)
        out["head_equal_time"] = {"steps": fit, "train_seconds": eq.seconds,
                                  "gold_accuracy": _acc([a[0] for a in answers], truth)}
    out["accuracy_per_train_second_ratio"] = (
        (out["head"]["gold_accuracy"] / out["head"]["train_seconds"])
        / max(out["lm"]["gold_accuracy"] / out["lm"]["train_seconds"], 1e-9))
    return out


def _acc(pred: list[str], truth: list[str]) -> float:
    return sum(p == t for p, t in zip(pred, truth, strict=True)) / len(truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer inputs and steps")
    ap.add_argument("--skip-learning", action="store_true", help="answer cost only")
    ap.add_argument("--dedicated-cores", action="store_true",
                    help="as a replica with [serving] dedicated_cores: torch's threads spin a moment before sleeping "
                         "(both scorers measured so)")
    ap.add_argument("--out", default="bench/results/head.json")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    base = resolve_base_model(DEFAULT_STUDENT, Path(os.environ.get("DISTILLERY_MODEL_CACHE", "var/models")))
    texts = [t.text for t in TransactionGenerator(seed=3).stream(64)]
    random.Random(0).shuffle(texts)
    spec = load_settings(Path(__file__).resolve().parents[1] / "distillery.toml").task("transactions")
    n_ll = 4 if args.quick else 8
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                          "torch": torch.__version__, "threads": torch.get_num_threads(),
                                          "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY",
                                                                            "OpenMP default (dedicated cores)")}}
    result["cost_43"] = answer_cost(base, list(spec.labels), texts, ll_single=n_ll, ll_batch=n_ll)
    print(json.dumps(result["cost_43"]), flush=True)
    result["cost_77"] = answer_cost(base, intent_labels(77), texts, ll_single=n_ll, ll_batch=n_ll)
    print(json.dumps(result["cost_77"]), flush=True)
    if not args.skip_learning:
        result["learning"] = learning(base, 20 if args.quick else 40, 640 if args.quick else 1200,
                                      60 if args.quick else 150)
        print(json.dumps(result["learning"]), flush=True)
    result["aims"] = {
        # as served: the head with its prompt prefix cached (trainer.prefix)
        "cost_43_10x": (result["cost_43"]["speedup_single_served"] >= 10
                        and result["cost_43"]["speedup_batched_served"] >= 10),
        "cost_77_20x": (result["cost_77"]["speedup_single_served"] >= 20
                        and result["cost_77"]["speedup_batched_served"] >= 20),
    }
    if "learning" in result:
        lr = result["learning"]
        # at equal training time, as the aim says (the head's steps are cheaper: it gets more of them)
        result["aims"]["head_at_least_as_accurate"] = (
            lr["head_equal_time"]["gold_accuracy"] >= lr["lm"]["gold_accuracy"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    c43, c77 = result["cost_43"], result["cost_77"]
    print(f"head bench (served, prefix cached): 43 labels {c43['speedup_single_served']:.1f}x alone, "
          f"{c43['speedup_batched_served']:.1f}x batched; 77 labels {c77['speedup_single_served']:.1f}x "
          f"/ {c77['speedup_batched_served']:.1f}x; aims {result['aims']}")


if __name__ == "__main__":
    main()
