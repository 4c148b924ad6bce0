"""Faults the simulated teacher server injects on demand, set from tests at runtime.

Each ``fault(n, ...)`` call queues ``n`` occurrences, consumed by the next chat
completion requests in the order: down, rate limit, server error, bad request,
malformed, slow. Thread-safe, because tests poke it while the server runs in another thread.

>>> f = Faults()
>>> f.rate_limit(2, retry_after_s=0.5)
>>> f.next_fault(now=0.0), f.next_fault(now=0.0), f.next_fault(now=0.0)
(Fault(kind='rate_limit', status=429, retry_after_s=0.5, delay_s=0.0, message=''), Fault(kind='rate_limit', status=429, retry_after_s=0.5, delay_s=0.0, message=''), None)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["down", "rate_limit", "server_error", "bad_request", "malformed", "slow"]


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of (or before) answering it."""

    kind: FaultKind
    status: int = 200
    retry_after_s: float | None = None
    delay_s: float = 0.0
    message: str = ""


class Faults:
    """A queue of injected faults plus a down-until time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._rate_limit: list[Fault] = []
        self._server_error: list[Fault] = []
        self._bad_request: list[Fault] = []
        self._malformed: list[Fault] = []
        self._slow: list[Fault] = []
        self.injected: dict[str, int] = {}

    def rate_limit(self, n: int, *, retry_after_s: float | None = 0.0) -> None:
        """The next ``n`` calls get 429, with ``Retry-After`` when ``retry_after_s`` is set."""
        with self._lock:
            self._rate_limit += [Fault("rate_limit", 429, retry_after_s)] * n

    def server_error(self, n: int, *, status: int = 500) -> None:
        """The next ``n`` calls get HTTP ``status`` (5xx)."""
        with self._lock:
            self._server_error += [Fault("server_error", status)] * n

    def bad_request(self, n: int, message: str = "invalid request") -> None:
        """The next ``n`` calls get 400 with ``message`` (e.g. a refused parameter)."""
        with self._lock:
            self._bad_request += [Fault("bad_request", 400, message=message)] * n

    def malformed(self, n: int) -> None:
        """The next ``n`` calls get a 200 whose JSON body is cut in half."""
        with self._lock:
            self._malformed += [Fault("malformed")] * n

    def slow(self, n: int, delay_s: float) -> None:
        """The next ``n`` calls answer only after ``delay_s`` (to trip client timeouts)."""
        with self._lock:
            self._slow += [Fault("slow", 200, None, delay_s)] * n

    def down_for(self, seconds: float) -> None:
        """Every call gets 503 for the next ``seconds``."""
        with self._lock:
            self._down_until = time.monotonic() + seconds

    def clear(self) -> None:
        with self._lock:
            self._down_until = 0.0
            self._rate_limit.clear()
            self._server_error.clear()
            self._bad_request.clear()
            self._malformed.clear()
            self._slow.clear()

    def is_down(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) < self._down_until

    def next_fault(self, now: float | None = None) -> Fault | None:
        """The fault for the request arriving now, consumed; ``None`` to answer normally."""
        with self._lock:
            fault: Fault | None = None
            if self.is_down(now):
                fault = Fault("down", 503)
            else:
                for queue in (self._rate_limit, self._server_error, self._bad_request, self._malformed, self._slow):
                    if queue:
                        fault = queue.pop(0)
                        break
            if fault is not None:
                self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
            return fault
