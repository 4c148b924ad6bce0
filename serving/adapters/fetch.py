"""Fetching a published adapter into a local cache, verified before anything loads it.

The folder is fetched into a fresh temporary folder beside its cache place
(:func:`~distillery.artifacts.fetch_dir` refuses any remote name that would
land outside it: absolute paths, ``..``, links, odd names), verified, and only
then renamed into place, so a half-written or hostile copy is never loaded.

When the event carries ``manifest_sha256`` the folder's ``manifest.json`` must
hash to it, and every file must match the SHA-256 the manifest lists, with no
file the manifest does not list (:func:`~distillery.manifest.verify_manifest`):
a tampered ``adapter_config.json`` is refused like tampered weights. Older
events without a manifest are checked as before: the weights
(``adapter_model.safetensors``) against ``sha256`` and a classifier head against
``head_sha256``. A copy that fails is deleted and refused with an
:class:`~distillery.errors.IntegrityError`. A copy already in the cache is
verified again before it is reused (cheap next to loading it, and the cache is a
folder anyone on the host could write to).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from distillery.artifacts import fetch_dir, sha256_file
from distillery.errors import ArtifactError, IntegrityError
from distillery.events import AdapterPublished
from distillery.manifest import verify_manifest

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

    A name longer than 100 characters keeps its first 80 and a digest of the whole.

    >>> safe_name("transactions-3f2a.v2/lora")
    'transactions-3f2a_v2_lora'
    >>> len(safe_name("x" * 512))
    97
    """
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if len(safe) > 100:
        safe = f"{safe[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return safe


def verify(folder: Path, event: AdapterPublished) -> None:
    """Raise unless ``folder`` holds a peft adapter whose files match what the event announced.

    With a manifest (``event.manifest_sha256``) every file is checked and no other
    file may be there; without one, the weights and a classifier head are.
    """
    what = f"adapter {event.adapter_id} at {event.uri}"
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (folder / name).is_file():
            raise ArtifactError(f"{what}: {name} is missing; "
                                "an adapter folder needs adapter_config.json and adapter_model.safetensors")
    digests = verify_manifest(folder, event.manifest_sha256, what) if event.manifest_sha256 is not None else {}
    got = digests.get(ADAPTER_WEIGHTS) or sha256_file(folder / ADAPTER_WEIGHTS)
    if got != event.sha256:
        raise IntegrityError(f"{what}: {ADAPTER_WEIGHTS} has SHA-256 {got}, "
                             f"the event announced {event.sha256}; refusing to load it")
    if event.head == "classifier":
        head = folder / HEAD_WEIGHTS
        if not head.is_file() or not (folder / HEAD_META).is_file():
            raise ArtifactError(f"{what}: the event announces a classifier head "
                                f"but {HEAD_WEIGHTS} or {HEAD_META} is missing")
        got = digests.get(HEAD_WEIGHTS) or sha256_file(head)
        if event.head_sha256 is not None and got != event.head_sha256:
            raise IntegrityError(f"{what}: {HEAD_WEIGHTS} has SHA-256 {got}, "
                                 f"the event announced {event.head_sha256}; refusing to load it")


def fetch_adapter(event: AdapterPublished, cache_dir: Path) -> LocalAdapter:
    """The adapter of ``event`` in ``cache_dir/<task>/<adapter_id>``, fetched if needed and verified.

    Every failure is an :class:`ArtifactError` (an :class:`IntegrityError` when
    the files are not what the event announced); nothing else escapes.
    """
    target = Path(cache_dir) / safe_name(event.task) / safe_name(event.adapter_id)
    try:
        return _fetch_adapter(event, target)
    except ArtifactError:
        raise
    except OSError as exc:  # the local cache: a full disk, a permission
        raise ArtifactError(f"adapter {event.adapter_id} at {event.uri}: cannot place it in {target}: {exc}") from None


def _fetch_adapter(event: AdapterPublished, target: Path) -> LocalAdapter:
    if target.is_symlink():
        target.unlink()  # the cache holds real folders only; a link could point anywhere
    elif target.is_dir():
        try:
            verify(target, event)
            return LocalAdapter(event, target)
        except ArtifactError:
            shutil.rmtree(target, ignore_errors=True)  # a stale or damaged copy: fetch it again
    # fetched into a fresh folder beside the target and renamed into place once verified,
    # so a crash never leaves a half copy and nothing unverified is ever at the target
    tmp = target.parent / f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        fetch_dir(event.uri, tmp)
        verify(tmp, event)
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir() or target.is_symlink():
                raise
            verify(target, event)  # another process put it there first; use theirs if it is sound
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return LocalAdapter(event, target)
