"""Adapters out to serving: the subscriber that follows the adapter topics and the servers it swaps into.

* :class:`AdapterSubscriber` reads ``adapters.published`` and ``adapters.control``
  (no consumer group: every replica sees every event), verifies each adapter's
  SHA-256 and keeps its targets on each task's current adapter;
* :class:`InProcessServer` serves a transformers + peft model in this process;
* :class:`VllmServer` drives a vLLM server's runtime LoRA API;
* :class:`AdapterBook` is the pure rule for which adapter serves (pins, rollbacks).
"""

from __future__ import annotations

from distillery.adapter_book import AdapterBook, TaskAdapters
from serving.adapters.fetch import LocalAdapter, fetch_adapter
from serving.adapters.inprocess import InProcessServer
from serving.adapters.subscriber import AdapterSubscriber, AdapterTarget, SwapNote
from serving.adapters.vllm import VllmServer, lora_name_for

__all__ = [
    "AdapterBook",
    "AdapterSubscriber",
    "AdapterTarget",
    "InProcessServer",
    "LocalAdapter",
    "SwapNote",
    "TaskAdapters",
    "VllmServer",
    "fetch_adapter",
    "lora_name_for",
]
