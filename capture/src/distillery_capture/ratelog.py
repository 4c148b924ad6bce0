"""A logger that says a repeated warning once per interval, with how many it held back.

A broker outage drops thousands of events a second; one log line per drop would
bury the service's own logs, so each kind of warning is said at most once every
``every_s`` seconds and the next line reports how many were suppressed.

>>> import logging
>>> clock = iter([0.0, 1.0, 2.0, 11.0]).__next__
>>> seen: list[str] = []
>>> class Keep(logging.Handler):
...     def emit(self, record: logging.LogRecord) -> None:
...         seen.append(record.getMessage())
>>> logger = logging.getLogger("ratelog-doctest"); logger.addHandler(Keep()); logger.propagate = False
>>> warn = Throttled(logger, every_s=10.0, clock=clock)
>>> for _ in range(4):
...     warn("full", "queue full")
>>> seen
['queue full', 'queue full (2 more since the last report)']
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class Throttled:
    """Log each ``key``'s warning at most once per ``every_s`` seconds; count the rest."""

    def __init__(
        self,
        log: logging.Logger,
        *,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._every_s = every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, key: str, message: str, *args: object) -> None:
        """Warn ``message % args`` unless ``key`` was reported less than ``every_s`` ago."""
        with self._lock:
            now = self._clock()
            last = self._last.get(key)
            if last is not None and now - last < self._every_s:
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._last[key] = now
            held = self._held.pop(key, 0)
        suffix = f" ({held} more since the last report)" if held else ""
        self._log.warning(message + suffix, *args)
