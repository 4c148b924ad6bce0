"""The adapter book, as serving imports it; the rules live in the contract (:mod:`distillery.adapter_book`).

They moved there so the monitors, which must not load serving's model stack,
fold the same history and agree on which adapter serves.
"""

from __future__ import annotations

from distillery.adapter_book import AdapterBook, AdapterRecord, TaskAdapters

__all__ = ["AdapterBook", "AdapterRecord", "TaskAdapters"]
