"""Fetching adapters: verified against the announced SHA-256 or manifest, refused and never cached when tampered."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from distillery.artifacts import ArtifactStore
from distillery.errors import ArtifactError, IntegrityError
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from distillery.manifest import publish_adapter, write_manifest
from serving.adapters.fetch import fetch_adapter

WEIGHTS = b"not really safetensors, but bytes with a hash"


def stored(tmp_path: Path, weights: bytes = WEIGHTS, *, config: bool = True) -> AdapterPublished:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "adapter_model.safetensors").write_bytes(weights)
    if config:
        (src / "adapter_config.json").write_text('{"r": 4}')
    (src / "card.json").write_text("{}")
    uri = ArtifactStore(str(tmp_path / "store")).put_dir(src, "adapters/t/ad-1")
    return AdapterPublished(task="t", adapter_id="ad-1", job_id="j", uri=uri,
                            sha256=hashlib.sha256(WEIGHTS).hexdigest(), base_model="b", student_prompt="",
                            metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))


def test_a_sound_adapter_lands_in_the_cache_and_is_reused(tmp_path: Path) -> None:
    ev = stored(tmp_path)
    local = fetch_adapter(ev, tmp_path / "cache")
    assert local.path == tmp_path / "cache" / "t" / "ad-1" and local.adapter_id == "ad-1"
    assert sorted(p.name for p in local.path.iterdir()) == ["adapter_config.json", "adapter_model.safetensors",
                                                           "card.json"]
    (tmp_path / "store" / "adapters" / "t" / "ad-1" / "card.json").write_text('{"changed": true}')
    assert (fetch_adapter(ev, tmp_path / "cache").path / "card.json").read_text() == "{}"  # reused, not fetched


def test_tampered_weights_are_refused_and_leave_nothing_behind(tmp_path: Path) -> None:
    ev = stored(tmp_path, WEIGHTS + b"!")
    with pytest.raises(IntegrityError, match=r"ad-1 .*adapter_model.safetensors has SHA-256 [0-9a-f]{64}, the event "
                                             rf"announced {ev.sha256}; refusing"):
        fetch_adapter(ev, tmp_path / "cache")
    assert list((tmp_path / "cache" / "t").iterdir()) == []


def test_a_cached_copy_that_no_longer_matches_is_fetched_again(tmp_path: Path) -> None:
    ev = stored(tmp_path)
    local = fetch_adapter(ev, tmp_path / "cache")
    (local.path / "adapter_model.safetensors").write_bytes(b"swapped on disk")
    again = fetch_adapter(ev, tmp_path / "cache")
    assert (again.path / "adapter_model.safetensors").read_bytes() == WEIGHTS


def test_a_folder_without_its_config_or_at_a_missing_uri_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="adapter_config.json is missing"):
        fetch_adapter(stored(tmp_path, config=False), tmp_path / "cache")
    gone = stored(tmp_path).model_copy(update={"uri": f"file://{tmp_path}/nowhere"})
    with pytest.raises(ArtifactError, match="is missing"):
        fetch_adapter(gone, tmp_path / "cache2")


def published(tmp_path: Path, *, head: bool = False) -> tuple[AdapterPublished, Path]:
    """An adapter published as the trainer does: with a manifest the event announces."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "adapter_model.safetensors").write_bytes(WEIGHTS)
    (src / "adapter_config.json").write_text('{"r": 4}')
    (src / "card.json").write_text("{}")
    uri, manifest = publish_adapter(ArtifactStore(str(tmp_path / "store")), src, "adapters/t/ad-1")
    ev = AdapterPublished(task="t", adapter_id="ad-1", job_id="j", uri=uri, sha256=hashlib.sha256(WEIGHTS).hexdigest(),
                          base_model="b", student_prompt="", manifest_sha256=manifest,
                          metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))
    return ev, tmp_path / "store" / "adapters" / "t" / "ad-1"


def test_an_adapter_with_a_manifest_is_verified_file_by_file(tmp_path: Path) -> None:
    ev, _ = published(tmp_path)
    local = fetch_adapter(ev, tmp_path / "cache")
    assert sorted(p.name for p in local.path.iterdir()) == ["adapter_config.json", "adapter_model.safetensors",
                                                           "card.json", "manifest.json"]


@pytest.mark.parametrize("name", ["adapter_config.json", "adapter_model.safetensors", "card.json"])
def test_a_tampered_file_is_refused_by_the_manifest_and_never_cached(tmp_path: Path, name: str) -> None:
    ev, stored_at = published(tmp_path)
    (stored_at / name).write_bytes((stored_at / name).read_bytes() + b" ")
    with pytest.raises(IntegrityError, match=rf"ad-1 .*: {name} has SHA-256 [0-9a-f]{{64}}, the manifest lists "
                                             r"[0-9a-f]{64}; refusing the adapter"):
        fetch_adapter(ev, tmp_path / "cache")
    assert list((tmp_path / "cache" / "t").iterdir()) == []


def test_a_file_the_manifest_does_not_list_or_a_missing_one_is_refused(tmp_path: Path) -> None:
    ev, stored_at = published(tmp_path)
    (stored_at / "extra.py").write_text("import os")
    with pytest.raises(IntegrityError, match="extra.py is not in the manifest"):
        fetch_adapter(ev, tmp_path / "cache")
    (stored_at / "extra.py").unlink()
    (stored_at / "card.json").unlink()
    with pytest.raises(IntegrityError, match="card.json is listed in the manifest but missing"):
        fetch_adapter(ev, tmp_path / "cache")


def test_a_rewritten_manifest_does_not_match_the_event(tmp_path: Path) -> None:
    ev, stored_at = published(tmp_path)
    (stored_at / "adapter_config.json").write_text('{"r": 64}')
    write_manifest(stored_at)  # whoever changed the config also rewrote the manifest
    with pytest.raises(IntegrityError, match="manifest.json has SHA-256 [0-9a-f]{64}, the event announced"):
        fetch_adapter(ev, tmp_path / "cache")


def test_a_cached_copy_is_checked_against_the_manifest_too(tmp_path: Path) -> None:
    ev, _ = published(tmp_path)
    local = fetch_adapter(ev, tmp_path / "cache")
    (local.path / "adapter_config.json").write_text('{"r": 64}')
    assert (fetch_adapter(ev, tmp_path / "cache").path / "adapter_config.json").read_text() == '{"r": 4}'


def test_an_adapter_archive_that_climbs_out_writes_nothing_outside_the_cache(tmp_path: Path) -> None:
    archive = tmp_path / "store" / "ad-1.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("adapter_config.json", "{}")
        z.writestr("adapter_model.safetensors", WEIGHTS)
        z.writestr("../../../../escaped.txt", "pwned")
    ev = stored(tmp_path).model_copy(update={"uri": f"zip://::file://{archive}"})
    cache = tmp_path / "deep" / "er" / "cache"
    with pytest.raises(IntegrityError, match="could leave the folder"):
        fetch_adapter(ev, cache)
    assert not list(tmp_path.rglob("escaped*")) and not [p for p in cache.rglob("*") if p.is_file()]


def test_an_adapter_id_too_long_for_a_file_name_still_has_a_cache_folder(tmp_path: Path) -> None:
    ev = stored(tmp_path).model_copy(update={"adapter_id": "a" * 500})
    assert len(fetch_adapter(ev, tmp_path / "cache").path.name) < 100
