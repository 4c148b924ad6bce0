"""Fetching adapters: verified against the announced SHA-256, refused and never cached when tampered."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from distillery.artifacts import ArtifactStore
from distillery.errors import ArtifactError, IntegrityError
from distillery.events import AdapterPublished, GateMetrics, ModelScores
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
