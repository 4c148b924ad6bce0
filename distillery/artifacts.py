"""The artifact store: content-addressed files in a local folder or any fsspec URI.

Snapshots (Parquet) and adapters (folders) live here; events carry their URI and
SHA-256 so a reader can verify what it fetched before using it.

>>> import tempfile, pathlib
>>> root = tempfile.mkdtemp()
>>> src = pathlib.Path(root, "a.txt"); _ = src.write_text("hello")
>>> uri, digest = ArtifactStore(root).put_file(src, "snapshots/t", suffix=".txt")
>>> digest[:12], uri.endswith(f"snapshots/t/{digest}.txt")
('2cf24dba5fb0', True)
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import fsspec

from distillery.errors import ArtifactError, IntegrityError

CHUNK = 1024 * 1024


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a local file, read in 1 MiB chunks so large weights never sit in memory.

    The checksum every published artifact carries (snapshots, adapter weights, heads, manifests).

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"abc")
    >>> sha256_file(fh.name)[:16]
    'ba7816bf8f01cfea'
    >>> os.unlink(fh.name)
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class ArtifactStore:
    """Put and get files under ``root`` (a folder path, ``file://``, ``s3://``, ...)."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.root)
        if self.fs.protocol in ("file", ("file", "local")) or "file" in self.fs.protocol:
            Path(self.base).mkdir(parents=True, exist_ok=True)

    def uri(self, relative: str) -> str:
        """The full URI of a path inside the store."""
        prefix = self.root if "://" in self.root else f"file://{Path(self.base).resolve()}"
        return f"{prefix}/{relative.lstrip('/')}"

    def put_file(self, local: Path, folder: str, *, suffix: str = "") -> tuple[str, str]:
        """Upload ``local`` as ``folder/<sha256><suffix>``; return (uri, sha256). Idempotent."""
        digest = sha256_file(local)
        relative = f"{folder.strip('/')}/{digest}{suffix}"
        target = f"{self.base}/{relative}"
        if not self.fs.exists(target):
            self.fs.makedirs(f"{self.base}/{folder.strip('/')}", exist_ok=True)
            self.fs.put_file(str(local), target)
        return self.uri(relative), digest

    def remove(self, uri: str) -> bool:
        """Delete the file ``uri`` names inside this store; False when it was already gone.

        A URI outside the store is refused (an :class:`ArtifactError`), so a
        record naming some other path can never make this delete it; any other
        failure is an :class:`ArtifactError` naming the URI (try again later).
        """
        prefix = self.uri("")
        if not uri.startswith(prefix) or unsafe_name(uri[len(prefix):]) is not None:
            raise ArtifactError(f"cannot delete {uri}: it is not a file inside the artifact store {prefix}")
        target = f"{self.base}/{uri[len(prefix):]}"
        try:
            if not self.fs.exists(target):
                return False
            self.fs.rm_file(target)
        except FileNotFoundError:
            return False
        except Exception as exc:  # noqa: BLE001 - whatever a backend raises, the file is still there
            raise ArtifactError(f"cannot delete artifact {uri}: {type(exc).__name__}: {exc}") from None
        return True

    def put_dir(self, local: Path, relative: str) -> str:
        """Upload a folder (an adapter) to ``relative``; return its URI."""
        target = f"{self.base}/{relative.strip('/')}"
        self.fs.makedirs(target, exist_ok=True)
        for f in sorted(local.rglob("*")):
            if f.is_file():
                dest = f"{target}/{f.relative_to(local).as_posix()}"
                self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
                self.fs.put_file(str(f), dest)
        return self.uri(relative)


MAX_FILES = 1000
"""Most files one artifact folder may list (a peft adapter has a handful)."""

_SAFE_PART = re.compile(r"[A-Za-z0-9._+=@-]{1,255}")
"""One component of a file name inside an artifact folder: no separators, control or odd characters."""


def fetch(uri: str, dest: Path, *, expect_sha256: str | None = None) -> Path:
    """Copy a file URI to ``dest`` and check its SHA-256 when one is expected.

    Every failure to read it (a missing fsspec backend, a URI fsspec cannot
    parse, an odd archive, an I/O error) is an :class:`ArtifactError` naming the
    URI, so a bad URI in an event is a rejected job or a logged skip, never a crash.
    """
    try:
        with fsspec.open(uri, "rb") as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    except Exception as exc:  # noqa: BLE001 - whatever a backend raises, the artifact is unreadable
        dest.unlink(missing_ok=True)
        raise unreadable(uri, exc) from None
    if expect_sha256 is not None:
        got = sha256_file(dest)
        if got != expect_sha256:
            dest.unlink(missing_ok=True)
            raise IntegrityError(f"{uri}: SHA-256 is {got}, the event announced {expect_sha256}; refusing it")
    return dest


def fetch_dir(uri: str, dest: Path) -> Path:
    """Copy a folder URI (an adapter) into ``dest``, a new folder this call creates.

    The remote listing is checked whole before a byte is written: every entry must
    be a plain file (no link) whose name, relative to the folder, is made of plain
    components (no absolute path, no ``..``, no separators or control characters),
    so nothing can land outside ``dest``; an entry that breaks this is an
    :class:`IntegrityError` and nothing is kept. ``dest`` must not exist yet, so no
    link someone else placed can redirect a write. Any failure to read is an
    :class:`ArtifactError` naming the URI; on any failure ``dest`` is removed.
    """
    try:
        fs, base = fsspec.core.url_to_fs(uri)
        listing = fs.find(base, detail=True)
        if not isinstance(listing, dict):
            raise ArtifactError(f"cannot read artifact folder {uri}: its listing is a {type(listing).__name__}")
        plan = _plan(uri, base, listing)
    except Exception as exc:  # noqa: BLE001 - whatever a backend raises, the artifact is unreadable
        raise unreadable(uri, exc, folder=True) from None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.mkdir()
    except OSError as exc:
        raise ArtifactError(f"cannot fetch artifact folder {uri} into {dest}: {exc}") from None
    try:
        root = dest.resolve()
        for remote, rel in plan:
            local = dest.joinpath(*rel.split("/"))
            local.parent.mkdir(parents=True, exist_ok=True)
            if not local.parent.resolve().is_relative_to(root) or local.exists() or local.is_symlink():
                raise IntegrityError(f"artifact folder {uri}: {rel!r} would not land as a new file inside {dest}; "
                                     "refusing the folder")
            fs.get_file(remote, str(local))
    except IntegrityError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a backend raises, the artifact is unreadable
        shutil.rmtree(dest, ignore_errors=True)
        raise unreadable(uri, exc, folder=True) from None
    return dest


def _plan(uri: str, base: str, listing: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(remote path, safe relative name) for every entry of a folder listing, or an IntegrityError."""
    root = base.rstrip("/")
    if len(listing) > MAX_FILES:
        raise IntegrityError(f"artifact folder {uri} lists {len(listing)} files, more than {MAX_FILES}; refusing it")
    plan: list[tuple[str, str]] = []
    for path, info in sorted(listing.items()):
        if root and path == root:
            raise ArtifactError(f"artifact folder {uri} is a file, not a folder; publish the adapter folder")
        if root and not path.startswith(root + "/"):
            raise IntegrityError(f"artifact folder {uri} lists {path!r}, which is outside the folder; refusing it")
        rel = path[len(root) + 1:] if root else path
        problem = unsafe_name(rel)
        if problem is None and (info.get("type") != "file" or info.get("islink")):
            problem = f"it is a {'link' if info.get('islink') else info.get('type')}, not a plain file"
        if problem is not None:
            raise IntegrityError(f"artifact folder {uri} lists {rel!r}: {problem}; refusing the folder "
                                 "(nothing of it was written)")
        plan.append((path, rel))
    return plan


def unsafe_name(rel: str) -> str | None:
    r"""Why ``rel`` is not a safe relative file name inside a folder, or None when it is.

    >>> [unsafe_name(n) is None for n in ("adapter_config.json", "sub/head.json", "../x", "/etc/x", "a//b", "a\\b")]
    [True, True, False, False, False, False]
    """
    if not rel or rel.startswith("/"):
        return "an absolute or empty path"
    parts = rel.split("/")
    if len(parts) > 8:
        return "nested more than 8 folders deep"
    for part in parts:
        if part in ("", ".", ".."):
            return f"the path component {part!r} could leave the folder"
        if not _SAFE_PART.fullmatch(part):
            return "an odd name (only letters, digits and . _ + = @ - are allowed)"
    return None


def unreadable(uri: str, exc: BaseException, *, folder: bool = False) -> ArtifactError:
    """The :class:`ArtifactError` for a URI that could not be read: which URI, why, and the fix."""
    what = "artifact folder" if folder else "artifact"
    if isinstance(exc, ArtifactError):
        return exc
    if isinstance(exc, ImportError):
        cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
        module = (cause.name or "").split(".")[0]
        scheme = uri.split("://", 1)[0] if "://" in uri else "file"
        fix = f"pip install {module}" if module else "install the fsspec backend for it"
        return ArtifactError(f"cannot read {what} {uri}: the fsspec backend for {scheme}:// is not installed "
                             f"on this host ({exc}); fix: {fix}, or publish to a store this host can read")
    return ArtifactError(f"cannot read {what} {uri}: {type(exc).__name__}: {exc}")
