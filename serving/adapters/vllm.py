"""Hot-swapping adapters into a running vLLM server through its runtime LoRA API.

The server must be started with LoRA enabled and runtime updates allowed::

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve BASE_MODEL --enable-lora --max-loras 4 \\
        --max-lora-rank 64

Each adapter version is loaded under a *new* name (``POST /v1/load_lora_adapter
{"lora_name", "lora_path"}``) and the version it replaces is unloaded only
after the switch (``POST /v1/unload_lora_adapter {"lora_name"}``): reloading
other weights under a name already used could answer from the prefix cache
built for the old weights. Clients ask for ``model = lora_name(task)``.

Adapters with a classifier head (``AdapterPublished.head == "classifier"``) are
refused with a message saying so: vLLM's runtime LoRA API loads LoRA weights on
a causal LM, not a separate label head; serve those tasks in process.

``lora_path`` is the adapter's folder in this process's cache: vLLM reads it
from its own filesystem, so run the subscriber on the same host as vLLM, or
with a data dir on a volume both see.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from distillery.errors import ServingError
from distillery.events import AdapterPublished
from serving.adapters.fetch import LocalAdapter

log = logging.getLogger("distillery.serving")


def lora_name_for(task: str, adapter_id: str) -> str:
    """The vLLM name of one adapter version: unique per version, readable per task.

    >>> lora_name_for("transactions", "ad-7"), lora_name_for("transactions", "transactions-3f2a-lora")
    ('transactions-ad-7', 'transactions-3f2a-lora')
    """
    return adapter_id if adapter_id.startswith(f"{task}-") else f"{task}-{adapter_id}"


class VllmServer:
    """Drives one vLLM server's LoRA slots: the current adapter per task, loaded under a fresh name."""

    kind = "vllm"

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout_s: float = 120.0) -> None:
        url = base_url.rstrip("/")
        self.base_url = url[: -len("/v1")] if url.endswith("/v1") else url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._session: aiohttp.ClientSession | None = None
        self._served: dict[str, AdapterPublished] = {}

    def served(self, task: str) -> AdapterPublished | None:
        """The event of the adapter vLLM now serves for ``task``."""
        return self._served.get(task)

    def serving(self, task: str) -> str | None:
        """The id of the adapter vLLM now serves for ``task``."""
        ev = self._served.get(task)
        return ev.adapter_id if ev is not None else None

    def lora_name(self, task: str) -> str | None:
        """The ``model`` name clients send to vLLM for ``task`` (None until an adapter is loaded)."""
        ev = self._served.get(task)
        return lora_name_for(task, ev.adapter_id) if ev is not None else None

    async def activate(self, adapter: LocalAdapter) -> None:
        """Load ``adapter`` under its own name, serve it, then unload the one it replaces."""
        if adapter.event.head == "classifier":
            raise ServingError(
                f"adapter {adapter.adapter_id}: it answers through a classifier head (head.safetensors beside the "
                "LoRA weights), which vLLM's runtime LoRA API cannot load: vLLM serves LoRA on the language-model "
                "head only. Serve this task in process (`distillery adapters watch --port`), or set "
                f"tasks.{adapter.task}.student.head = \"lm\" to train adapters vLLM can serve")
        old = self.lora_name(adapter.task)
        new = lora_name_for(adapter.task, adapter.adapter_id)
        if new == old:
            return
        await self._post("load_lora_adapter", {"lora_name": new, "lora_path": str(adapter.path)},
                         tolerate=(400, "already been loaded"))
        self._served[adapter.task] = adapter.event
        if old is not None:
            try:
                await self._post("unload_lora_adapter", {"lora_name": old}, tolerate=(404, ""))
            except ServingError as exc:
                # the new adapter serves already; a leftover slot is worth a warning, not a failure
                log.warning("task %s: %s", adapter.task, exc)

    async def _post(self, endpoint: str, body: dict[str, Any], *, tolerate: tuple[int, str]) -> None:
        """POST to ``/v1/<endpoint>``; a ``tolerate`` (status, text) answer means it is already so."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout, headers=self.headers)
        url = f"{self.base_url}/v1/{endpoint}"
        try:
            async with self._session.post(url, json=body) as resp:
                text = await resp.text()
                if resp.status < 300 or (resp.status == tolerate[0] and tolerate[1] in text):
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServingError(f"vLLM at {self.base_url}: {endpoint} {body.get('lora_name')!r} failed "
                               f"({type(exc).__name__}: {exc}); is the server up?") from exc
        hint = ("start vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
                if resp.status in (404, 405) and "adapter" not in text else "see the vLLM server log")
        raise ServingError(f"vLLM at {self.base_url}: {endpoint} {body.get('lora_name')!r} answered HTTP "
                           f"{resp.status}: {text.strip()[:300]}; {hint}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
