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
import shutil
from pathlib import Path

import fsspec

from distillery.errors import ArtifactError, IntegrityError

CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a local file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
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


def fetch(uri: str, dest: Path, *, expect_sha256: str | None = None) -> Path:
    """Copy a file URI to ``dest`` and check its SHA-256 when one is expected."""
    try:
        with fsspec.open(uri, "rb") as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read artifact {uri}: {exc}") from None
    if expect_sha256 is not None:
        got = sha256_file(dest)
        if got != expect_sha256:
            dest.unlink(missing_ok=True)
            raise IntegrityError(f"{uri}: SHA-256 is {got}, the event announced {expect_sha256}; refusing it")
    return dest


def fetch_dir(uri: str, dest: Path) -> Path:
    """Copy a folder URI (an adapter) to ``dest``."""
    try:
        fs, base = fsspec.core.url_to_fs(uri)
        dest.mkdir(parents=True, exist_ok=True)
        for path in fs.find(base):
            rel = path[len(base.rstrip("/")) + 1:]
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(path, str(dest / rel))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read artifact folder {uri}: {exc}") from None
    return dest
