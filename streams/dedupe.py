"""Duplicate detection per task, so the teacher is never paid twice for one input.

Two checks, cheapest first:

* **exact**: a 16-byte BLAKE2 digest of the *normalised* text. Normalising
  casefolds, collapses whitespace and, for classification tasks, masks every digit
  run as ``0``: ``STARBUCKS #1234 SEATTLE`` and ``starbucks  #877 seattle`` are one
  input, because store numbers never change a category. Extraction and text tasks
  keep digits (an amount or a date *is* the answer there).
* **near**: MinHash over character 3-grams of the normalised text, indexed by
  datasketch's ``MinHashLSH``. LSH candidates are confirmed by the Jaccard
  estimate of the stored signatures, so a hit means estimated similarity
  ``>= threshold``. The banding is tuned toward recall (false-negative weight 0.9)
  because the confirmation step removes the extra false positives.

Memory is bounded: at most ``capacity`` exact keys (~150 bytes each) and
``near_capacity`` signatures (~2.4 KB each in datasketch's LSH tables, measured;
default ``min(capacity, 50_000)``, about 120 MB) are remembered. The oldest
*inserted* entry is evicted first (FIFO, not LRU), which also lets a very common
input be re-labeled once in a while after ``capacity`` newer ones.

64 permutations: measured ~45 us per probe+insert on short merchant strings
(32 permutations saves ~10 us but its Jaccard estimate is too noisy, sd 0.05 at 0.9).

>>> d = Deduper(threshold=0.9, capacity=100)
>>> d.check_and_add("STARBUCKS #1234 SEATTLE WA"), d.check_and_add("starbucks  #877 Seattle WA")
(None, 'exact')
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import numpy as np
from datasketch import MinHash, MinHashLSH

from distillery.taskspec import TaskSpec

DupKind = Literal["exact", "near"]

NUM_PERM = 64
SHINGLE = 3
LSH_MAX_THRESHOLD = 0.95
_LSH_WEIGHTS = (0.1, 0.9)  # (false positive, false negative): favour recall, confirm after

_SPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")


def normalise(text: str, *, mask_digits: bool = True) -> str:
    """The form duplicates are compared in: casefolded, one space, digit runs as ``0``.

    >>> normalise("  SQ *Blue  Bottle #0042\\tOAKLAND ")
    'sq *blue bottle #0 oakland'
    >>> normalise("Total 45.10", mask_digits=False)
    'total 45.10'
    """
    text = _SPACE.sub(" ", text.casefold()).strip()
    return _DIGITS.sub("0", text) if mask_digits else text


def _crc32(data: bytes) -> int:
    # 3-4x cheaper than datasketch's default SHA-1 and as good for 3-byte shingles.
    return zlib.crc32(data)


@dataclass(frozen=True)
class Probe:
    """The result of looking one input up: its key, signature and any duplicate found."""

    key: bytes
    signature: MinHash | None
    duplicate: DupKind | None


class Deduper:
    """Remembers what was labeled (exact keys + MinHash LSH) for one task, bounded."""

    def __init__(
        self,
        *,
        threshold: float = 0.9,
        capacity: int = 200_000,
        near_capacity: int | None = None,
        mask_digits: bool = True,
        num_perm: int = NUM_PERM,
    ) -> None:
        self.threshold = threshold
        self.capacity = capacity
        self.near_capacity = min(capacity, 50_000) if near_capacity is None else near_capacity
        self.mask_digits = mask_digits
        self.num_perm = num_perm
        self._template = MinHash(num_perm=num_perm, seed=1, hashfunc=_crc32)
        # Banding for thresholds above 0.95 degenerates (b < 2); band for 0.95, confirm at the real one.
        self._lsh = MinHashLSH(threshold=min(threshold, LSH_MAX_THRESHOLD), num_perm=num_perm, weights=_LSH_WEIGHTS)
        self._exact: OrderedDict[bytes, None] = OrderedDict()  # oldest first
        self._near: OrderedDict[bytes, np.ndarray] = OrderedDict()  # key -> uint32 signature
        self.near_enabled = threshold < 1.0 and self.near_capacity > 0

    @classmethod
    def for_task(cls, spec: TaskSpec) -> Deduper:
        return cls(
            threshold=spec.sampling.near_duplicate_threshold,
            capacity=spec.sampling.dedupe_capacity,
            mask_digits=spec.kind == "classification",
        )

    def __len__(self) -> int:
        return len(self._exact)

    def key(self, text: str) -> bytes:
        """The exact-duplicate key of ``text`` (digest of its normalised form)."""
        return hashlib.blake2b(normalise(text, mask_digits=self.mask_digits).encode(), digest_size=16).digest()

    def probe(self, text: str, *, near: bool = True) -> Probe:
        """Look ``text`` up without remembering it; ``near=False`` skips the MinHash check."""
        norm = normalise(text, mask_digits=self.mask_digits)
        key = hashlib.blake2b(norm.encode(), digest_size=16).digest()
        if key in self._exact:
            return Probe(key, None, "exact")
        if not (near and self.near_enabled):
            return Probe(key, None, None)
        sig = self._signature(norm)
        if self._near and self._near_hit(sig):
            return Probe(key, sig, "near")
        return Probe(key, sig, None)

    def add(self, probe: Probe) -> None:
        """Remember a probed input (evicting the oldest past ``capacity``)."""
        if probe.key in self._exact:
            return
        self._exact[probe.key] = None
        if probe.signature is not None and probe.key not in self._near:
            self._lsh.insert(probe.key, probe.signature, check_duplication=False)
            self._near[probe.key] = probe.signature.hashvalues.astype(np.uint32)
        while len(self._exact) > self.capacity:
            self._exact.popitem(last=False)
        while len(self._near) > self.near_capacity:
            self._drop_near(next(iter(self._near)))

    def forget(self, key: bytes) -> None:
        """Drop one remembered input (its label never arrived, so a duplicate may retry)."""
        self._exact.pop(key, None)
        if key in self._near:
            self._drop_near(key)

    def check_and_add(self, text: str) -> DupKind | None:
        """The duplicate kind of ``text``, remembering it when it is new."""
        probe = self.probe(text)
        if probe.duplicate is None:
            self.add(probe)
        return probe.duplicate

    def _drop_near(self, key: bytes) -> None:
        del self._near[key]
        self._lsh.remove(key)

    def _signature(self, norm: str) -> MinHash:
        data = norm.encode()
        shingles = [data[i : i + SHINGLE] for i in range(max(1, len(data) - SHINGLE + 1))]
        sig = MinHash(
            num_perm=self.num_perm,
            hashfunc=_crc32,
            permutations=self._template.permutations,
            scheme="affine32",
        )
        sig.update_batch(shingles)
        return sig

    def _near_hit(self, sig: MinHash) -> bool:
        mine = sig.hashvalues.astype(np.uint32)
        for cand in self._lsh.query(sig):
            other = self._near.get(cand)
            if other is not None and float(np.count_nonzero(mine == other)) / len(mine) >= self.threshold:
                return True
        return False
