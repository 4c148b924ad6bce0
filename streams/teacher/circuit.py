"""A circuit breaker, so a teacher outage costs one fast failure per call, not a retry storm.

* **closed**: calls go through; ``failure_threshold`` consecutive failures open it.
* **open**: calls fail at once with :class:`TeacherUnavailableError` until
  ``cooldown_s`` has passed since it opened.
* **half-open**: one probe call is let through (others still fail fast); its
  success closes the circuit, its failure opens it for another cool-down.

Only failures that say the endpoint is unwell count (5xx, timeouts, connection
errors, malformed bodies); the caller decides which. The clock is injectable.

>>> now = [0.0]
>>> cb = CircuitBreaker(failure_threshold=2, cooldown_s=10, clock=lambda: now[0])
>>> cb.record_failure(); cb.record_failure(); cb.state
'open'
>>> now[0] = 10.0; cb.before_call(); cb.state
'half_open'
>>> cb.record_success(); cb.state
'closed'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from distillery.errors import TeacherUnavailableError

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed / open / half-open breaker counting consecutive failures."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "teacher",
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.name = name
        self.state: State = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.times_opened = 0
        self.fast_failures = 0
        self._probe_in_flight = False

    def before_call(self) -> None:
        """Let a call through, or raise :class:`TeacherUnavailableError` when open."""
        if self.state == "closed":
            return
        if self.state == "open":
            left = self.opened_at + self.cooldown_s - self.clock()
            if left > 0:
                self.fast_failures += 1
                raise TeacherUnavailableError(
                    f"{self.name}: circuit open after {self.failures} consecutive failures; "
                    f"failing fast, next probe in {left:.1f}s"
                )
            self.state = "half_open"
            self._probe_in_flight = False
        if self._probe_in_flight:
            self.fast_failures += 1
            raise TeacherUnavailableError(f"{self.name}: circuit half-open, a probe call is in flight; failing fast")
        self._probe_in_flight = True

    def record_success(self) -> None:
        self.state = "closed"
        self.failures = 0
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        self._probe_in_flight = False
        if self.state == "half_open" or self.failures >= self.failure_threshold:
            if self.state != "open":
                self.times_opened += 1
            self.state = "open"
            self.opened_at = self.clock()

    def release(self) -> None:
        """End a call that proved nothing either way (e.g. a 429), freeing the probe slot."""
        self._probe_in_flight = False
