"""Trainer fixtures: a tiny random Llama, built offline in a second."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from trainer_toy import LABELS, SYSTEM_PROMPT, toy_examples

from devkit.tiny_student import build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the model hub


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("tiny-llama")
    texts = [e.input for e in toy_examples(96, seed=1)] + LABELS + [SYSTEM_PROMPT]
    return str(build_tiny_model(Path(folder), texts, seed=0))
