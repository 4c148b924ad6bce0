"""An in-process student server: one base model, every task's adapter hot-swapped beside it.

The base model is loaded once (4-bit NF4 on CUDA, fp32 on the CPU, as the
trainer does) and wrapped in a peft model; each published adapter is loaded
under its own peft adapter name *beside* the ones already there, then made the
task's served adapter. One lock covers both a request's forward pass and a
swap, so a request that started on the old adapter finishes on it and the next
one runs on the new one; nothing ever answers from a half-loaded adapter. A
swap waits for the request in flight only, never for requests that arrive
after it (a turnstile keeps a busy server from starving it). The
price is that requests wait while peft loads (about 0.3 s for SmolLM2-135M with
an r=16 all-linear adapter on a CPU), once per published adapter. Per
task the newest ``keep`` adapters stay loaded (the one serving and the one
before it, by default), so a rollback to the previous adapter is a pointer
switch; older ones are deleted to free memory.

An adapter trained with a classifier head (``head.safetensors`` beside the LoRA
weights) answers through it: one forward pass per batch of inputs, whatever the
size of the label set; the head is held beside its adapter and swapped with it.
The prompt's shared prefix (chat framing and system prompt) is computed once
per adapter and reused (:mod:`trainer.prefix`), so an answer runs the backbone
over its own tokens only. On the CPU a head adapter answers from its own copy
of the base model with the LoRA weights merged in (``[serving] merge_heads``),
as the gate judged it (:mod:`trainer.merge`): peft's unmerged layers run two
extra small matmuls per linear layer, which for a lone request of a few dozen
tokens cost about a third of the pass (SmolLM2-135M, 77 labels, 2 threads:
157-172 ms through peft, 92-111 ms merged, confidences equal within 1e-6).
The copy is built before the swap takes the lock and costs one base model's
memory per loaded head adapter; a quantised (CUDA) base is never merged.

Answers come from :func:`trainer.predict.predict` with the prompt the adapter
was trained with (``AdapterPublished.student_prompt``), so serving scores
exactly as the gate and the router's calibration did.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from distillery.errors import ArtifactError, ConfigError, ServingError, TrainingError
from distillery.events import AdapterPublished
from distillery.settings import Settings
from distillery.taskspec import TaskSpec
from serving.adapters.fetch import LocalAdapter, safe_name
from trainer.head import Classifier, check_labels, is_head_adapter, load_head
from trainer.loading import load_base, load_tokenizer, load_with_adapter, resolve_device
from trainer.merge import merged_for_cpu
from trainer.predict import Prediction, predict
from trainer.prefix import PrefixCache
from trainer.student import resolve_base_model

log = logging.getLogger("distillery.serving")

FirstAnswerHook = Callable[[str, str], None]
"""Called with (task, adapter_id) after an adapter's first answer."""


def common_base_model(settings: Settings, tasks: Iterable[str] | None = None) -> str:
    """The one student base model the given tasks (default: all) share."""
    names = sorted(tasks) if tasks is not None else sorted(settings.tasks)
    bases = {settings.task(t).student.base_model for t in names}
    if len(bases) != 1:
        raise ConfigError(
            f"tasks {names} use {len(bases)} student base models ({', '.join(sorted(bases)) or 'none'}); "
            "one in-process server holds one base model: run one per base model with --task", key="tasks")
    return bases.pop()


class InProcessServer:
    """transformers + peft model serving every task's current adapter; thread-safe."""

    kind = "in-process"

    def __init__(self, settings: Settings, base_model: str | None = None, *, tasks: Iterable[str] | None = None,
                 device: str | None = None, keep: int = 2) -> None:
        if keep < 1:
            raise ConfigError(f"keep: at least the serving adapter stays loaded, got {keep}", key="keep")
        self.settings = settings
        self.base_model = base_model or common_base_model(settings, tasks)
        self.base_path = resolve_base_model(self.base_model, settings.model_dir)
        self.device = device or resolve_device(settings.trainer.device)
        self.keep = keep
        import peft  # noqa: F401 - imported now, so the first swap does not pay for it

        model, _ = load_base(self.base_path, self.device)
        self.tokenizer = load_tokenizer(self.base_path)
        self._model: Any = model.eval()
        self._lock = threading.Lock()
        # a turnstile in front of the lock: a waiting swap closes it, so requests arriving after it queue
        # behind it instead of re-taking the lock first (threading.Lock does not hand over to waiters)
        self._turnstile = threading.Lock()
        self._served: dict[str, LocalAdapter] = {}
        self._loaded: dict[str, list[str]] = {}
        self._names: dict[str, str] = {}
        self._specs: dict[str, TaskSpec] = {}
        self._heads: dict[str, Classifier] = {}
        self._merged: dict[str, Any] = {}
        self.merge_heads = settings.serving.merge_heads and self.device == "cpu"
        self._switched_at: dict[str, float] = {}
        self._answered: set[str] = set()
        self.first_answer_hooks: list[FirstAnswerHook] = []
        self.swap_seconds: dict[str, tuple[float, float]] = {}
        """Per adapter: (waiting for the request in flight, loading and switching) of its last swap."""

    # ---------------------------------------------------------------- state
    def served(self, task: str) -> AdapterPublished | None:
        """The event of the adapter now answering ``task`` (None: the base model answers)."""
        adapter = self._served.get(task)
        return adapter.event if adapter is not None else None

    def serving(self, task: str) -> str | None:
        """The id of the adapter now answering ``task``."""
        adapter = self._served.get(task)
        return adapter.adapter_id if adapter is not None else None

    def loaded(self, task: str) -> list[str]:
        """Adapter ids of ``task`` held in memory, the serving one first."""
        return list(self._loaded.get(task, []))

    # ---------------------------------------------------------------- swaps
    async def activate(self, adapter: LocalAdapter) -> None:
        """:meth:`load` off the event loop."""
        await asyncio.to_thread(self.load, adapter)

    def load(self, adapter: LocalAdapter) -> None:
        """Load ``adapter`` beside the others (unless already loaded) and serve it for its task."""
        ev = adapter.event
        if ev.base_model not in (self.base_model, self.base_path):
            raise ServingError(f"adapter {ev.adapter_id}: base_model is {ev.base_model!r} but this server holds "
                               f"{self.base_model!r}; serve it from a server started on its base model")
        spec = self._spec(ev)
        head = self._read_head(adapter, spec)
        merged = None
        if head is not None and self.merge_heads and ev.adapter_id not in self._merged:
            merged = self._merge(adapter)  # off the lock: requests keep being answered meanwhile
        asked = time.perf_counter()
        with self._turnstile, self._lock:
            got_lock = time.perf_counter()
            if ev.adapter_id not in self._names:
                self._load_weights(adapter, safe_name(ev.adapter_id))
            self.swap_seconds[ev.adapter_id] = (got_lock - asked, time.perf_counter() - got_lock)
            self._specs[ev.adapter_id] = spec
            if head is not None:
                self._heads[ev.adapter_id] = head
            if merged is not None:
                self._merged[ev.adapter_id] = merged
            self._served[ev.task] = adapter
            self._switched_at[ev.adapter_id] = time.perf_counter()
            order = [ev.adapter_id] + [a for a in self._loaded.get(ev.task, []) if a != ev.adapter_id]
            self._loaded[ev.task] = order[: self.keep]
            dropped = order[self.keep:]
            if dropped:
                # the adapter to delete may be the active one: make the new one active first
                self._model.set_adapter(self._names[ev.adapter_id], inference_mode=True)
            for old in dropped:
                self._model.delete_adapter(self._names.pop(old))
                self._specs.pop(old, None)
                self._heads.pop(old, None)
                self._merged.pop(old, None)

    def _load_weights(self, adapter: LocalAdapter, name: str) -> None:
        from peft import PeftModel

        try:
            if isinstance(self._model, PeftModel):
                self._model.load_adapter(str(adapter.path), adapter_name=name, is_trainable=False,
                                         low_cpu_mem_usage=True)
            else:
                loader: Any = PeftModel  # peft's decorator hides the classmethod's signature from mypy
                self._model = loader.from_pretrained(self._model, str(adapter.path), adapter_name=name,
                                                     is_trainable=False, low_cpu_mem_usage=True).eval()
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ServingError(f"adapter {adapter.adapter_id} at {adapter.path}: peft could not load it "
                               f"({type(exc).__name__}: {exc}); was it trained on {self.base_model}?") from exc
        self._names[adapter.adapter_id] = name

    def _merge(self, adapter: LocalAdapter) -> Any:
        """A copy of the base model with ``adapter``'s LoRA merged in, as the gate judged it (:mod:`trainer.merge`)."""
        try:
            return merged_for_cpu(load_with_adapter(self.base_path, adapter.path, self.device))
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ServingError(f"adapter {adapter.adapter_id} at {adapter.path}: merging its LoRA weights into "
                               f"{self.base_model} failed ({type(exc).__name__}: {exc}); set "
                               "[serving] merge_heads = false to serve it through peft") from exc

    def merged(self, task: str) -> bool:
        """True when ``task``'s serving adapter answers from a merged copy of the base model."""
        adapter = self._served.get(task)
        return adapter is not None and adapter.adapter_id in self._merged

    def _read_head(self, adapter: LocalAdapter, spec: TaskSpec) -> Classifier | None:
        """The adapter's classifier head (None for an LM adapter), checked against the task's labels."""
        if adapter.event.head != "classifier" and not is_head_adapter(adapter.path):
            return None
        try:
            head = load_head(adapter.path, self.device)
            check_labels(head, spec.labels, f"adapter {adapter.adapter_id}")
        except (ArtifactError, TrainingError) as exc:
            raise ServingError(f"adapter {adapter.adapter_id}: {exc}") from exc
        head.prefix = PrefixCache()  # a served adapter's weights are frozen: its prompt prefix is computed once
        return head

    def _spec(self, ev: AdapterPublished) -> TaskSpec:
        """The task's spec with the prompt the adapter was trained with."""
        spec = self.settings.task(ev.task)
        return spec.model_copy(update={"student": spec.student.model_copy(update={"system_prompt": ev.student_prompt})})

    # -------------------------------------------------------------- answers
    def predict(self, task: str, texts: Sequence[str]) -> list[Prediction]:
        """The serving adapter's answers (the base model's when none is served yet)."""
        return self.predict_served(task, texts)[1]

    def predict_served(self, task: str, texts: Sequence[str]) -> tuple[AdapterPublished | None, list[Prediction]]:
        """The answers and the event of the adapter that gave them, read under the same lock."""
        with self._turnstile:
            pass
        with self._lock:
            adapter = self._served.get(task)
            if adapter is None:
                return None, self._predict_base(task, texts)
            adapter_id = adapter.adapter_id
            model = self._merged.get(adapter_id)
            if model is None:
                model = self._model
                name = self._names[adapter_id]
                if model.active_adapter != name:
                    model.set_adapter(name, inference_mode=True)
            out = predict(model, self.tokenizer, self._specs[adapter_id], texts,
                          classifier=self._heads.get(adapter_id))
            first = adapter_id not in self._answered
            self._answered.add(adapter_id)
        if first:
            self._first_answer(task, adapter_id)
        return adapter.event, out

    def _predict_base(self, task: str, texts: Sequence[str]) -> list[Prediction]:
        spec = self.settings.task(task)
        if hasattr(self._model, "disable_adapter"):
            with self._model.disable_adapter():
                return predict(self._model, self.tokenizer, spec, texts)
        return predict(self._model, self.tokenizer, spec, texts)

    def _first_answer(self, task: str, adapter_id: str) -> None:
        since = time.perf_counter() - self._switched_at.get(adapter_id, time.perf_counter())
        log.info("task %s: adapter %s served its first answer (%.2fs after the switch)", task, adapter_id, since)
        for hook in self.first_answer_hooks:
            hook(task, adapter_id)
