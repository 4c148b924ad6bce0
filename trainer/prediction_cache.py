"""Answers a fixed model already gave on gold inputs, so no model is scored twice on one input.

The gate scores the base model, the production adapter and the candidate on
the whole gold set for every job. The first two do not change between jobs, and
scoring costs a forward pass over the prompt and every label per input (about
half a second per input for SmolLM2 on two CPU cores), so their answers are kept
per model, keyed by what decides them: the model's identity (base folder, or
adapter SHA-256), the device it ran on (4-bit CUDA and fp32 CPU differ), the task
kind, the label set and the student prompt. A candidate's answers are kept too:
when it is promoted, the next job finds them under its SHA-256.

The folder is bounded: it keeps the ``keep`` most recently used models' files
(each read or write marks its file used) and deletes the others after a write,
so every rejected candidate's answers do not stay for ever.

>>> import tempfile
>>> from pathlib import Path
>>> cache = PredictionCache(Path(tempfile.mkdtemp()))
>>> key = cache.key("base:/models/smollm2", "cpu", "classification", ["a", "b"], "Pick one.")
>>> calls = []
>>> def score(texts):
...     calls.append(list(texts))
...     return [Prediction("a", 0.9) for _ in texts]
>>> [p.answer for p in cache.predict(key, ["x", "y"], score)]
['a', 'a']
>>> [p.confidence for p in cache.predict(key, ["y", "z"], score)]
[0.9, 0.9]
>>> calls                     # "y" was answered once, from the cache the second time
[['x', 'y'], ['z']]
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from trainer.predict import Prediction

log = logging.getLogger("distillery.trainer")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class PredictionCache:
    """A folder of JSON-lines files, one per (model, device, task) key."""

    def __init__(self, folder: Path, keep: int = 32) -> None:
        self.folder = Path(folder)
        self.keep = keep

    @staticmethod
    def key(model: str, device: str, kind: str, labels: Sequence[str], prompt: str) -> str:
        """The identity of a scorer: the same key always gives the same answers."""
        blob = json.dumps([model, device, kind, list(labels), prompt], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:40]

    def load(self, key: str) -> dict[str, Prediction]:
        path = self.folder / f"{key}.jsonl"
        out: dict[str, Prediction] = {}
        if not path.exists():
            return out
        path.touch()  # used: the newest files stay (see _bound)
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                out[row["h"]] = Prediction(row["a"], float(row["c"]))
            except (ValueError, KeyError, TypeError):
                log.warning("prediction cache %s: skipped a damaged line", path)  # a torn write: rescore it
        return out

    def save(self, key: str, answers: dict[str, Prediction]) -> None:
        """Append new answers (several workers on one folder only ever append the same answers)."""
        if not answers:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"{key}.jsonl").open("a", encoding="utf-8") as f:
            for h, p in answers.items():
                f.write(json.dumps({"h": h, "a": p.answer, "c": p.confidence}, ensure_ascii=False) + "\n")
        self._bound()

    def _bound(self) -> None:
        """Delete all but the ``keep`` most recently used files."""
        files = sorted(self.folder.glob("*.jsonl"), key=lambda f: f.stat().st_mtime_ns, reverse=True)
        for old in files[self.keep:]:
            old.unlink(missing_ok=True)

    def predict(self, key: str, texts: Sequence[str],
                score: Callable[[list[str]], list[Prediction]]) -> list[Prediction]:
        """Answers for ``texts``: cached ones as they were, the rest from ``score`` (then cached)."""
        known = self.load(key)
        hashes = [_digest(t) for t in texts]
        missing: dict[str, str] = {h: t for h, t in zip(hashes, texts, strict=True) if h not in known}
        if missing:
            fresh = score(list(missing.values()))
            new = dict(zip(missing, fresh, strict=True))
            self.save(key, new)
            known.update(new)
        return [known[h] for h in hashes]
