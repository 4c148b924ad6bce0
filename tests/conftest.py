"""Shared fixtures: settings factories that give each test its own world."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the console sets it for workers (see console/threads.py)

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from log_tap import LogTap

from distillery.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings_factory(tmp_path: Path):
    """Build Settings from the repo's distillery.toml with a private prefix and data dir."""

    def make(**overrides: object) -> Settings:
        base = load_settings(ROOT / "distillery.toml", env={})
        prefix = f"t{uuid.uuid4().hex[:10]}."
        changes: dict[str, object] = {"topic_prefix": prefix, "data_dir": tmp_path / prefix.rstrip(".")}
        changes.update(overrides)
        return base.with_overrides(**changes)

    return make


@pytest.fixture
def fuzz_log() -> Iterator[LogTap]:
    """INFO and above from ``distillery.*``, not propagated to pytest's handlers (see :class:`LogTap`)."""
    logger = logging.getLogger("distillery")
    tap = LogTap()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(tap)
    try:
        yield tap
    finally:
        logger.removeHandler(tap)
        logger.setLevel(level)
        logger.propagate = propagate
