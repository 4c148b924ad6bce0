"""The demo's blind-spot probe: does a promoted adapter get right what the teacher always gets wrong?

The simulated teacher answers one category wrongly and confidently every time
(dental care as ``medical_services``). That category is rare in the traffic,
so the routed requests alone hold too few of it to say anything. When an
adapter starts serving, the demo sends it a fixed probe of fresh inputs of
that category through ``/v1/route`` (which returns the student's own answer
beside the routed one) and keeps, per adapter, how many the student got right
and how many the routed system did. An adapter trained before people corrected
the teacher copies its mistake; one trained through the corrections
(:mod:`trainer.teacher_noise`) should not.

>>> p = ProbeTally("dental_vision")
>>> p.add("a1", student="medical_services", routed="medical_services")
>>> p.add("a2", student="dental_vision", routed="medical_services")
>>> p.add("a2", student="dental_vision", routed="dental_vision")
>>> p.line("medical_services")
"the teacher's blind spot (dental_vision, which it answers medical_services), probed with fresh inputs per serving adapter: a1 student 0% right of 1 (routed 0%); a2 student 100% right of 2 (routed 50%)"
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("console.demo")

Route = Callable[[str, str], dict[str, Any]]
"""Sends (event id, input) to ``/v1/route``; returns the response body."""


@dataclass
class ProbeTally:
    """Per serving adapter: probes sent, the student's own answer right, the routed answer right."""

    truth: str
    tallies: dict[str, list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, adapter: str, *, student: str | None, routed: str | None) -> None:
        with self._lock:
            t = self.tallies.setdefault(adapter, [0, 0, 0])
            t[0] += 1
            t[1] += int(student == self.truth)
            t[2] += int(routed == self.truth)

    def probed(self, adapter: str) -> int:
        with self._lock:
            return self.tallies.get(adapter, [0])[0]

    def line(self, wrong: str) -> str:
        with self._lock:
            parts = [f"{a} student {s / n:.0%} right of {n} (routed {r / n:.0%})"
                     for a, (n, s, r) in self.tallies.items() if n]
        return (f"the teacher's blind spot ({self.truth}, which it answers {wrong}), probed with fresh inputs per "
                f"serving adapter: {'; '.join(parts) or 'no adapter served'}")


class BlindSpotProbe:
    """Probes each newly serving adapter once with ``texts``, in a thread."""

    def __init__(self, route: Route, truth: str, wrong: str, texts: list[str]) -> None:
        self.route = route
        self.wrong = wrong
        self.texts = texts
        self.tally = ProbeTally(truth)
        self._busy = threading.Lock()
        self._done: set[str] = set()
        self._next_try = 0.0

    def offer(self, adapter_id: str, *, every_s: float = 2.0) -> None:
        """Probe ``adapter_id`` unless it was probed, a probe is running or one was tried under ``every_s`` ago."""
        now = time.monotonic()
        if adapter_id in self._done or now < self._next_try or not self._busy.acquire(blocking=False):
            return
        self._next_try = now + every_s
        threading.Thread(target=self._run, args=(adapter_id,), name="demo-probe", daemon=True).start()

    def _run(self, adapter_id: str) -> None:
        try:
            answers = []
            for i, text in enumerate(self.texts):
                body = self.route(f"probe-{adapter_id}-{i}", text)
                if body.get("adapter_id") != adapter_id:
                    return  # not swapped in yet (or already replaced): the next offer tries again
                answers.append((body.get("student_answer"), body.get("answer")))
            for student, routed in answers:
                self.tally.add(adapter_id, student=student, routed=routed)
            self._done.add(adapter_id)
        except Exception as exc:  # noqa: BLE001 - a probe never stops the demo
            log.warning("blind-spot probe of %s failed: %s", adapter_id, exc)
            self._done.add(adapter_id)
        finally:
            self._busy.release()

    def finished(self, adapter_id: str) -> bool:
        """Whether ``adapter_id`` was probed (or its probe failed and was logged)."""
        return adapter_id in self._done

    def line(self) -> str:
        return self.tally.line(self.wrong)


def http_route(base_url: str, task: str, api_key: str, *, timeout_s: float = 60.0) -> Route:
    """A :data:`Route` over HTTP (the replica's ``/v1/route``)."""
    import httpx

    client = httpx.Client(base_url=base_url, timeout=timeout_s, headers={"Authorization": f"Bearer {api_key}"})

    def route(event_id: str, text: str) -> dict[str, Any]:
        response = client.post("/v1/route", json={"task": task, "input": text, "event_id": event_id})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    return route
