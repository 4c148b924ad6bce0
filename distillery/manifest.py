"""The manifest of an adapter folder: the SHA-256 of every file in it, itself announced by its digest.

The trainer writes ``manifest.json`` into the adapter folder just before it
publishes it, and the ``AdapterPublished`` event carries the manifest's own
SHA-256 (``manifest_sha256``). A reader that finds the manifest's digest matches
the event can then trust the manifest, check every file it lists against it
(``adapter_config.json`` as much as the weights) and refuse any file it does
not list, so nothing unannounced is ever loaded.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "adapter_config.json").write_text("{}")
>>> digest = write_manifest(folder)
>>> sorted(verify_manifest(folder, digest, "adapter a1"))
['adapter_config.json']
>>> _ = (folder / "adapter_config.json").write_text('{"r": 64}')
>>> verify_manifest(folder, digest, "adapter a1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
distillery.errors.IntegrityError: adapter a1: adapter_config.json has SHA-256 ..., the manifest lists 44136fa3...; refusing the adapter
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from distillery.artifacts import MAX_FILES, ArtifactStore, sha256_file, unsafe_name
from distillery.errors import IntegrityError

MANIFEST = "manifest.json"
"""The manifest's file name inside an adapter folder (it does not list itself)."""

FORMAT = "distillery.adapter-manifest/1"

_SHA256 = re.compile(r"[0-9a-f]{64}")


def folder_files(folder: Path) -> list[str]:
    """Every file under ``folder`` as a relative POSIX name, sorted; a link anywhere is an IntegrityError."""
    names: list[str] = []
    for here, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(here, name)
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise IntegrityError(f"{folder}: {rel} is a link; an adapter folder holds plain files only")
            if name in files:
                if not path.is_file():
                    raise IntegrityError(f"{folder}: {rel} is not a plain file")
                names.append(rel)
    return sorted(names)


def build_manifest(folder: Path) -> dict[str, str]:
    """File name -> SHA-256 for every file of ``folder`` except the manifest itself."""
    return {name: sha256_file(folder / name) for name in folder_files(folder) if name != MANIFEST}


def write_manifest(folder: Path) -> str:
    """Write ``folder/manifest.json`` listing every other file; return the manifest's SHA-256."""
    files = build_manifest(folder)
    for name in files:
        problem = unsafe_name(name)
        if problem is not None:
            raise IntegrityError(f"{folder}: cannot publish {name!r}: {problem}")
    text = json.dumps({"format": FORMAT, "files": files}, indent=1, sort_keys=True) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    return sha256_file(folder / MANIFEST)


def publish_adapter(store: ArtifactStore, folder: Path, relative: str) -> tuple[str, str]:
    """Write the manifest of ``folder`` and upload the folder to ``relative``; return (uri, manifest SHA-256)."""
    digest = write_manifest(folder)
    return store.put_dir(folder, relative), digest


def read_manifest(path: Path, what: str) -> dict[str, str]:
    """The file -> SHA-256 map of a manifest file, or an IntegrityError saying what is wrong with it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{what}: {MANIFEST} is unreadable ({exc}); refusing the adapter") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(files, dict):
        raise IntegrityError(f"{what}: {MANIFEST} is not a {FORMAT} manifest; refusing the adapter")
    if len(files) > MAX_FILES:
        raise IntegrityError(f"{what}: {MANIFEST} lists {len(files)} files, more than {MAX_FILES}")
    for name, digest in files.items():
        problem = unsafe_name(name) if name != MANIFEST else "the manifest cannot list itself"
        if problem is not None or not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise IntegrityError(f"{what}: {MANIFEST} lists {name!r} with {digest!r}: "
                                 f"{problem or 'not a SHA-256'}; refusing the adapter")
    return dict(files)


def verify_manifest(folder: Path, expect_sha256: str, what: str) -> dict[str, str]:
    """Check ``folder`` against its manifest; return file -> SHA-256 of every file it holds.

    The manifest must hash to ``expect_sha256`` (the event's ``manifest_sha256``);
    every file it lists must be there with that digest, and the folder must hold
    nothing else. Any difference is an :class:`IntegrityError` naming the file.
    """
    path = folder / MANIFEST
    if not path.is_file() or path.is_symlink():
        raise IntegrityError(f"{what}: {MANIFEST} is missing, but the event announces one; refusing the adapter")
    got = sha256_file(path)
    if got != expect_sha256:
        raise IntegrityError(f"{what}: {MANIFEST} has SHA-256 {got}, the event announced {expect_sha256}; "
                             "refusing the adapter")
    listed = read_manifest(path, what)
    present = [name for name in folder_files(folder) if name != MANIFEST]
    for name in present:
        if name not in listed:
            raise IntegrityError(f"{what}: {name} is not in the manifest; refusing the adapter "
                                 "(a published adapter holds exactly the files its manifest lists)")
    for name, digest in sorted(listed.items()):
        if not (folder / name).is_file():
            raise IntegrityError(f"{what}: {name} is listed in the manifest but missing; refusing the adapter")
        got = sha256_file(folder / name)
        if got != digest:
            raise IntegrityError(f"{what}: {name} has SHA-256 {got}, the manifest lists {digest}; "
                                 "refusing the adapter")
    return listed
