"""A log handler for fuzzers: what the ``distillery`` loggers said since the last clear."""

from __future__ import annotations

import logging


class LogTap(logging.Handler):
    """The ``distillery`` loggers' records since the last :meth:`clear`, kept from every other handler.

    For fuzzers, in place of ``caplog``: pytest's handlers keep every record of a test's call
    phase until the test ends, with its arguments (hostile payloads, and exceptions whose
    tracebacks hold the hypothesis engine's frames), so a long run under ``caplog`` grew to
    5-9 GB. Here each example clears what it read. pytest 9 attaches its handlers to every
    non-propagating logger too, so the long run (``make fuzz``) also passes ``-p no:logging``.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def clear(self) -> None:
        self.records.clear()
