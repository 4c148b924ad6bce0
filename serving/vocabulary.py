"""The words an adapter was trained on, for the router's out-of-distribution check.

An adapter's training vocabulary is the set of tokens (lower-cased runs of
letters, :func:`monitors.signals.tokens`, the same the drift monitor counts) in
the ``input`` column of the ``train`` rows of its snapshot, the Parquet file at
``AdapterPublished.snapshot_uri``. Snapshots are content-addressed
(``<sha256>.parquet``), so the file is checked against the hash in its own name
when it has one. An input most of whose words the student never saw is outside
what the gold-set calibration measured: its confidence promises nothing.

>>> unseen_share("ACME FUEL 42", frozenset({"acme"}))
0.5
>>> unseen_share("1234", frozenset({"acme"})) is None
True
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from pathlib import Path

from distillery.artifacts import fetch
from distillery.errors import ArtifactError
from distillery.events import AdapterPublished
from monitors.signals import tokens, vocabulary_of

log = logging.getLogger("distillery.serving")

_CONTENT_ADDRESSED = re.compile(r"([0-9a-f]{64})\.parquet$")


def unseen_share(text: str, vocabulary: frozenset[str]) -> float | None:
    """Share of ``text``'s tokens outside ``vocabulary``; None when it has no tokens."""
    toks = tokens(text)
    if not toks:
        return None
    return sum(t not in vocabulary for t in toks) / len(toks)


def read_vocabulary(snapshot_uri: str, workdir: Path | None = None) -> frozenset[str]:
    """The vocabulary of a snapshot's ``train`` rows (every row when it has no ``split`` column)."""
    import pyarrow.parquet as pq

    named = _CONTENT_ADDRESSED.search(snapshot_uri)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = fetch(snapshot_uri, Path(tmp) / "snapshot.parquet", expect_sha256=named.group(1) if named else None)
        try:
            schema = pq.read_schema(path)
            columns = ["input", "split"] if "split" in schema.names else ["input"]
            table = pq.read_table(path, columns=columns)
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(f"snapshot_uri: cannot read the 'input' column of {snapshot_uri}: {exc}") from exc
    inputs = table.column("input").to_pylist()
    splits = table.column("split").to_pylist() if "split" in columns else ["train"] * len(inputs)
    return vocabulary_of(t for t, s in zip(inputs, splits, strict=True) if isinstance(t, str) and s == "train")


class SnapshotVocabulary:
    """Each adapter's training vocabulary, read once per snapshot and kept.

    A snapshot that cannot be read gives ``None`` (logged once): the router then
    skips the out-of-distribution check for that adapter rather than refusing
    every request.
    """

    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = workdir
        self._cache: dict[str, frozenset[str] | None] = {}
        self._lock = threading.Lock()

    def __call__(self, adapter: AdapterPublished) -> frozenset[str] | None:
        uri = adapter.snapshot_uri
        if not uri:
            return None
        if uri in self._cache:
            return self._cache[uri]
        with self._lock:  # one reader per snapshot; the others wait for its result
            if uri not in self._cache:
                try:
                    self._cache[uri] = read_vocabulary(uri, self.workdir) or None  # no words: no check
                except ArtifactError as exc:
                    log.warning("task %s: adapter %s: no out-of-distribution check (%s)", adapter.task,
                                adapter.adapter_id, exc)
                    self._cache[uri] = None
            return self._cache[uri]
