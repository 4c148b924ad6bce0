"""peft's LoraConfig and trl's SFTConfig, built from a task spec's ``lora`` and ``sft`` tables.

The task spec holds plain keyword arguments for those two classes; nothing here
re-invents them. Keys are checked against the classes' own fields first, so a
typo fails naming the key, the table and the nearest real key.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distillery.errors import ConfigError
from distillery.taskspec import TaskSpec

log = logging.getLogger(__name__)


def lora_config(spec: TaskSpec, *, top_layers_of: Any = None) -> Any:
    """``peft.LoraConfig`` from ``[tasks.NAME.lora]`` (task type defaults to causal LM).

    With ``top_layers_of`` (the model about to be wrapped) the adapter covers
    only its top ``student.tune_top_layers`` decoder layers, unless the table
    names ``layers_to_transform`` itself.
    """
    from peft import LoraConfig

    kwargs = {"task_type": "CAUSAL_LM", **spec.lora}
    top = spec.student.tune_top_layers
    if top_layers_of is not None and top and "layers_to_transform" not in spec.lora:
        kwargs |= top_layers(top_layers_of, top, kwargs.get("target_modules"), f"tasks.{spec.name}.lora")
    return _build(LoraConfig, kwargs, f"tasks.{spec.name}.lora")


def top_layers(model: Any, top: int, target_modules: Any, table: str) -> dict[str, Any]:
    """``layers_to_transform`` (the top ``top`` layers) and the explicit module names peft then needs.

    peft takes ``layers_to_transform`` only with a list of module names, so
    ``all-linear`` becomes the names of the linear layers inside the decoder
    layers (what ``all-linear`` picks, the output projection excluded).
    Empty when the model has no more than ``top`` layers: every layer is adapted.
    """
    from torch import nn

    n = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    if n <= top:
        return {}
    if target_modules in (None, "all-linear"):
        names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                 if isinstance(module, nn.Linear) and any(part.isdigit() for part in name.split("."))}
        target_modules = sorted(names)
    elif isinstance(target_modules, str):
        raise ConfigError(f"target_modules {target_modules!r} is a pattern, and student.tune_top_layers = {top} "
                          "needs module names: list them (e.g. [\"q_proj\", \"v_proj\"]) or set "
                          "tune_top_layers = 0", key=table)
    return {"target_modules": list(target_modules), "layers_to_transform": list(range(n - top, n))}


def sft_config(spec: TaskSpec, output_dir: Path, *, device: str) -> Any:
    """``trl.SFTConfig`` from ``[tasks.NAME.sft]`` on top of the trainer's defaults.

    Defaults: log every step (the loss curve), never write checkpoints (the
    adapter is saved once, at the end), report to nothing. On the CPU: fp32 and
    no gradient checkpointing (a small model fits, and checkpointing re-runs the forward);
    on CUDA: bf16 compute and gradient checkpointing. Batches stay random:
    length-grouped batches padded 20% less but, lengths following merchants and
    so labels, learned slower per step (bench/trainer_bench.py). The spec
    overrides any of them, except ``output_dir``, which the trainer owns.
    """
    from trl import SFTConfig

    defaults: dict[str, Any] = {
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": False,
        "dataloader_num_workers": 0,
    }
    if device == "cpu":
        defaults |= {"use_cpu": True, "bf16": False, "fp16": False, "gradient_checkpointing": False}
    else:
        defaults |= {"bf16": True, "gradient_checkpointing": True}
    kwargs = {**defaults, **spec.sft, "output_dir": str(output_dir)}
    return _build(SFTConfig, kwargs, f"tasks.{spec.name}.sft")


def _build(cls: type, kwargs: Mapping[str, Any], table: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    for key in kwargs:
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; see {cls.__module__}.{cls.__name__}"
            raise ConfigError(f"unknown key {key!r} for {cls.__name__}{hint}", key=table)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{cls.__name__} refused {dict(kwargs)!r}: {exc}", key=table) from exc


def job_steps(n_rows: int, *, batch: int, accumulation: int, epochs: float, max_steps: int,
              cap: int | None) -> tuple[int, int]:
    """(steps the job trains, steps ``epochs`` passes over ``n_rows`` would take).

    ``max_steps`` > 0 fixes the steps (transformers' rule); otherwise they follow
    the window. Either way ``cap`` bounds them: a job's compute budget.

    >>> job_steps(2218, batch=16, accumulation=1, epochs=1, max_steps=-1, cap=360)
    (139, 139)
    >>> job_steps(20112, batch=16, accumulation=1, epochs=1, max_steps=-1, cap=360)
    (360, 1257)
    >>> job_steps(20112, batch=16, accumulation=1, epochs=1, max_steps=120, cap=None)
    (120, 1257)
    """
    per_step = max(1, batch) * max(1, accumulation)
    full = max(1, math.ceil(epochs * n_rows / per_step))
    steps = max_steps if max_steps > 0 else full
    return (min(steps, cap) if cap is not None else steps), full


def budgeted(args: Any, spec: TaskSpec, n_rows: int) -> Any:
    """``args`` with ``max_steps`` set to the job's steps (:func:`job_steps`); says so when the cap bites."""
    steps, full = job_steps(n_rows, batch=int(args.per_device_train_batch_size),
                            accumulation=int(args.gradient_accumulation_steps), epochs=float(args.num_train_epochs),
                            max_steps=int(args.max_steps), cap=spec.student.max_steps_per_job)
    if steps < full and steps != args.max_steps:
        log.info("%d training rows: %g epoch(s) would take %d steps; training %d (student.max_steps_per_job), "
                 "seeing about %.0f%% of the window", n_rows, args.num_train_epochs, full, steps,
                 100 * min(1.0, steps * args.per_device_train_batch_size * args.gradient_accumulation_steps / n_rows))
    return args if steps == args.max_steps else dataclasses.replace(args, max_steps=steps)

