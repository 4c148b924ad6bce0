"""The prediction cache: answers kept per model, and the folder bounded (issue #13)."""

from __future__ import annotations

import os
from pathlib import Path

from trainer.predict import Prediction
from trainer.prediction_cache import PredictionCache


def test_the_folder_keeps_the_most_recently_used_models_only(tmp_path: Path) -> None:
    cache = PredictionCache(tmp_path, keep=3)
    keys = [cache.key(f"adapter:{i}", "cpu", "classification", ["a"], "p") for i in range(5)]
    for i, key in enumerate(keys[:3]):
        cache.predict(key, ["x"], lambda texts: [Prediction("a", 0.5) for _ in texts])
        os.utime(tmp_path / f"{key}.jsonl", ns=(i * 10**9, i * 10**9))  # written in that order
    assert cache.load(keys[0])  # reading the oldest marks it used
    calls: list[list[str]] = []
    for key in keys[3:]:
        cache.predict(key, ["x"], lambda texts: calls.append(texts) or [Prediction("a", 0.5) for _ in texts])
    assert sorted(f.stem for f in tmp_path.glob("*.jsonl")) == sorted([keys[0], keys[3], keys[4]])
    assert calls == [["x"], ["x"]]
