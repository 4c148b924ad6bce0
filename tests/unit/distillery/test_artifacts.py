"""Fetching artifacts: nothing lands outside its folder, names stay whole, every failure is an ArtifactError."""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fsspec.registry import known_implementations, register_implementation

from distillery.artifacts import ArtifactStore, fetch, fetch_dir
from distillery.errors import ArtifactError, IntegrityError
from distillery.manifest import MANIFEST, build_manifest, publish_adapter, verify_manifest

GOOD = {"adapter_config.json": b"{}", "adapter_model.safetensors": b"weights"}


def make_zip(path: Path, entries: dict[str, bytes]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return f"file://{path}"


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def no_backend() -> Iterator[str]:
    """A protocol whose fsspec backend is not installed (deterministic, whatever this host has)."""
    register_implementation("distillerytestfs", "distillery_no_such_backend.FS",
                                            errtxt="Install distillery_no_such_backend to access it", clobber=True)
    yield "distillerytestfs"
    known_implementations.pop("distillerytestfs", None)


@pytest.mark.parametrize("evil", ["../../../escaped.txt", "sub/../../../../escaped.txt", "/escaped.txt",
                                  "./escaped.txt", "a\\..\\escaped.txt", "odd\nname.txt"])
def test_a_zip_entry_that_would_leave_the_folder_is_refused_and_nothing_is_written(tmp_path: Path,
                                                                                    evil: str) -> None:
    archive = make_zip(tmp_path / "store" / "a.zip", {**GOOD, evil: b"pwned"})
    dest = tmp_path / "a" / "b" / "c" / "dest"
    with pytest.raises(IntegrityError, match=r"artifact folder zip://::file://.*a\.zip lists .*refusing the folder"):
        fetch_dir(f"zip://::{archive}", dest)
    assert files_under(tmp_path) == {"store/a.zip"}  # not the escaped file, not even the good ones
    assert not dest.exists()


def test_a_sub_folder_of_a_zip_cannot_climb_out_either(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "store" / "a.zip", {"sub/adapter_config.json": b"{}",
                                                      "sub/../../../escaped.txt": b"pwned"})
    with pytest.raises(IntegrityError, match="could leave the folder"):
        fetch_dir(f"zip://sub::{archive}", tmp_path / "a" / "b" / "c" / "dest")
    assert files_under(tmp_path) == {"store/a.zip"}


def test_an_archive_at_the_root_keeps_every_name_whole(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {**GOOD, "sub/head.json": b"{}"})
    dest = fetch_dir(f"zip://::{archive}", tmp_path / "dest")
    assert files_under(dest) == {"adapter_config.json", "adapter_model.safetensors", "sub/head.json"}
    assert (dest / "adapter_model.safetensors").read_bytes() == b"weights"


def test_a_link_in_the_source_folder_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "adapter_config.json").write_text("{}")
    (tmp_path / "secret").write_text("host secret")
    os.symlink(tmp_path / "secret", src / "adapter_model.safetensors")
    with pytest.raises(IntegrityError, match="'adapter_model.safetensors': it is a link"):
        fetch_dir(f"file://{src}", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_the_destination_must_be_a_new_folder(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", GOOD)
    (tmp_path / "dest").mkdir()
    with pytest.raises(ArtifactError, match="cannot fetch artifact folder .* into"):
        fetch_dir(f"zip://::{archive}", tmp_path / "dest")


def test_a_missing_backend_is_an_artifact_error_with_the_pip_command(tmp_path: Path, no_backend: str) -> None:
    uri = f"{no_backend}://bucket/adapters/t/a1"
    with pytest.raises(ArtifactError, match=rf"cannot read artifact folder {uri}: the fsspec backend for "
                                            rf"{no_backend}:// is not installed .*pip install distillery_no_such_backend"):
        fetch_dir(uri, tmp_path / "dest")
    with pytest.raises(ArtifactError, match=r"cannot read artifact .*pip install distillery_no_such_backend"):
        fetch(f"{no_backend}://bucket/snapshots/t/x.parquet", tmp_path / "snap.parquet")
    assert not (tmp_path / "dest").exists() and not (tmp_path / "snap.parquet").exists()


def test_an_s3_uri_without_s3fs_says_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as on a host without it, whether or not this one has it
    with pytest.raises(ArtifactError, match=r"s3://b/a1: the fsspec backend for s3:// .*fix: pip install s3fs"):
        fetch_dir("s3://b/a1", tmp_path / "dest")
    with pytest.raises(ArtifactError, match=r"fix: pip install s3fs"):
        fetch("s3://b/snap.parquet", tmp_path / "snap.parquet")


@pytest.mark.parametrize("uri", ["zip://::zip://::file://{tmp}/a.zip",  # KeyError inside fsspec
                                 "zip://::file://{tmp}/not-a.zip",  # zipfile.BadZipFile
                                 "nosuchprotocol://x/y"])  # ValueError
def test_odd_uris_are_artifact_errors(tmp_path: Path, uri: str) -> None:
    make_zip(tmp_path / "a.zip", GOOD)
    (tmp_path / "not-a.zip").write_bytes(b"not a zip")
    uri = uri.format(tmp=tmp_path)
    with pytest.raises(ArtifactError, match=f"cannot read artifact folder {uri}"):
        fetch_dir(uri, tmp_path / "dest")
    with pytest.raises(ArtifactError, match=f"cannot read artifact {uri}"):
        fetch(uri + "/x", tmp_path / "x")


def test_a_published_folder_carries_a_manifest_of_every_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name, data in {**GOOD, "card.json": b"{}", "sub/head.json": b"[]"}.items():
        (src / name).write_bytes(data)
    uri, digest = publish_adapter(ArtifactStore(str(tmp_path / "store")), src, "adapters/t/a1")
    got = fetch_dir(uri, tmp_path / "dest")
    assert sorted(verify_manifest(got, digest, "a1")) == ["adapter_config.json", "adapter_model.safetensors",
                                                          "card.json", "sub/head.json"]
    assert build_manifest(got) == verify_manifest(got, digest, "a1") and (got / MANIFEST).is_file()
