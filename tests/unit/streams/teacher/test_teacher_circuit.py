"""The circuit breaker's states and transitions."""

from __future__ import annotations

import pytest

from distillery.errors import TeacherUnavailableError
from streams.teacher.circuit import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_opens_after_consecutive_failures_and_fails_fast() -> None:
    clock = Clock()
    cb = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=clock)
    cb.record_failure()
    cb.record_failure()
    cb.record_success()  # resets the count
    for _ in range(2):
        cb.before_call()
        cb.record_failure()
    assert cb.state == "closed"
    cb.before_call()
    cb.record_failure()
    assert (cb.state, cb.times_opened) == ("open", 1)
    clock.t += 4
    with pytest.raises(TeacherUnavailableError, match="circuit open after 3 consecutive failures; failing fast, "
                                                      "next probe in 6.0s"):
        cb.before_call()
    assert cb.fast_failures == 1


def test_half_open_lets_one_probe_through() -> None:
    clock = Clock()
    cb = CircuitBreaker(failure_threshold=1, cooldown_s=5, clock=clock)
    cb.record_failure()
    clock.t += 5
    cb.before_call()
    assert cb.state == "half_open"
    with pytest.raises(TeacherUnavailableError, match="probe call is in flight"):
        cb.before_call()
    cb.record_failure()  # the probe failed: open again for a full cool-down
    assert (cb.state, cb.times_opened) == ("open", 2)
    clock.t += 4.9
    with pytest.raises(TeacherUnavailableError):
        cb.before_call()
    clock.t += 0.1
    cb.before_call()
    cb.record_success()
    assert (cb.state, cb.failures) == ("closed", 0)
    cb.before_call()
    cb.before_call()  # closed: no probe limit


def test_release_frees_the_probe_without_deciding() -> None:
    clock = Clock()
    cb = CircuitBreaker(failure_threshold=1, cooldown_s=1, clock=clock)
    cb.record_failure()
    clock.t += 1
    cb.before_call()
    cb.release()  # e.g. a 429: says nothing about health
    assert cb.state == "half_open"
    cb.before_call()  # a new probe may go
