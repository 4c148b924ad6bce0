"""Fetching a published adapter into a local cache, verified before anything loads it.

The event announces the SHA-256 of ``adapter_model.safetensors``; a copy whose
weights hash to anything else is deleted and refused with an
:class:`~distillery.errors.IntegrityError`, so a tampered or half-written
adapter can never be served. A copy already in the cache is hashed again
before it is reused (cheap next to loading it, and the cache is a folder anyone
on the host could write to).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from distillery.artifacts import fetch_dir, sha256_file
from distillery.errors import ArtifactError, IntegrityError
from distillery.events import AdapterPublished

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
HEAD_WEIGHTS = "head.safetensors"
HEAD_META = "head.json"


@dataclass(frozen=True)
class LocalAdapter:
    """A verified adapter folder on this host, with the event that announced it."""

    event: AdapterPublished
    path: Path

    @property
    def adapter_id(self) -> str:
        return self.event.adapter_id

    @property
    def task(self) -> str:
        return self.event.task


def safe_name(name: str) -> str:
    """A name usable as a folder or module name: anything but ``[A-Za-z0-9_-]`` becomes ``_``.

    >>> safe_name("transactions-3f2a.v2/lora")
    'transactions-3f2a_v2_lora'
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def verify(folder: Path, event: AdapterPublished) -> None:
    """Raise unless ``folder`` holds a peft adapter whose weights hash to the announced SHA-256."""
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (folder / name).is_file():
            raise ArtifactError(f"adapter {event.adapter_id} at {event.uri}: {name} is missing; "
                                "an adapter folder needs adapter_config.json and adapter_model.safetensors")
    got = sha256_file(folder / ADAPTER_WEIGHTS)
    if got != event.sha256:
        raise IntegrityError(f"adapter {event.adapter_id} at {event.uri}: {ADAPTER_WEIGHTS} has SHA-256 {got}, "
                             f"the event announced {event.sha256}; refusing to load it")
    if event.head == "classifier":
        head = folder / HEAD_WEIGHTS
        if not head.is_file() or not (folder / HEAD_META).is_file():
            raise ArtifactError(f"adapter {event.adapter_id} at {event.uri}: the event announces a classifier head "
                                f"but {HEAD_WEIGHTS} or {HEAD_META} is missing")
        got = sha256_file(head)
        if event.head_sha256 is not None and got != event.head_sha256:
            raise IntegrityError(f"adapter {event.adapter_id} at {event.uri}: {HEAD_WEIGHTS} has SHA-256 {got}, "
                                 f"the event announced {event.head_sha256}; refusing to load it")


def fetch_adapter(event: AdapterPublished, cache_dir: Path) -> LocalAdapter:
    """The adapter of ``event`` in ``cache_dir/<task>/<adapter_id>``, fetched if needed and verified."""
    target = Path(cache_dir) / safe_name(event.task) / safe_name(event.adapter_id)
    if target.is_dir():
        try:
            verify(target, event)
            return LocalAdapter(event, target)
        except ArtifactError:
            shutil.rmtree(target, ignore_errors=True)  # a stale or damaged copy: fetch it again
    # fetched beside the target and renamed into place, so a crash never leaves a half copy
    tmp = target.parent / f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        fetch_dir(event.uri, tmp)
        verify(tmp, event)
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            verify(target, event)  # another process put it there first; use theirs if it is sound
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return LocalAdapter(event, target)
