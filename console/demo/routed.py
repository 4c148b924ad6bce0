"""The demo's routed traffic: production requests sent through the router as a real service would.

Once an adapter is promoted, the demo points an ``openai`` client at the
serving replica (``base_url``, model ``distillery:TASK``) and sends it a share
of the traffic: as many requests as the machine serves beside the trainer,
bounded by a number in flight, the rest going to the teacher as before. The
router answers with the student when it is sure and escalates the rest; each
answer is scored against the row's ground truth, beside what the teacher
answered for the same input in production, so the live view and the end of
the demo state what the student served and at what quality.

Per true category it also keeps the teacher's production answers and the
routed system's, by the adapter that served: the category the teacher gets
most wrong (its blind spot on this traffic) and whether a later adapter,
trained after people corrected it, gets it right.

>>> s = RouteStats()
>>> s.add("student", 0.012, answer="fuel", truth="fuel", teacher="fuel", adapter="a1")
>>> s.add("teacher", 0.080, answer="bars", truth="bars", teacher="bars", adapter="a1")
>>> s.add("student", 0.020, answer="fuel", truth="groceries", teacher="groceries", adapter="a1")
>>> s.share("student"), s.accuracy("student"), s.teacher_accuracy("student")
(0.6666666666666666, 0.5, 1.0)
>>> s.worst_misses(), s.per_adapter()
([('groceries', 'fuel', 1)], [('a1', 3, 0.6666666666666666, 0.5, 0.6666666666666666, 1.0)])
>>> for adapter, answer in (("a1", "medical"), ("a1", "medical"), ("a2", "dental")):
...     s.add("student", 0.01, answer=answer, truth="dental", teacher="medical", adapter=adapter)
>>> s.teacher_blind_spot(min_items=3), s.routed_on("dental")
(('dental', 0.0, 3), [('a1', 2, 0.0), ('a2', 1, 1.0)])
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from distillery.replay import Row

ROUTES = ("student", "teacher")


@dataclass
class RouteStats:
    """Per route: answers, hits against ground truth, the teacher's hits on the same items, latencies."""

    answered: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTES, 0))
    judged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTES, 0))
    hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTES, 0))
    teacher_hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTES, 0))
    teacher_judged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTES, 0))
    latencies: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in ROUTES})
    teacher_by_truth: dict[str, list[int]] = field(default_factory=dict)
    """True category -> [items, the teacher's production answer right]."""
    routed_by: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    """(serving adapter, true category) -> [items, the routed answer right], in the order first seen."""
    by_adapter: dict[str, list[int]] = field(default_factory=dict)
    """Serving adapter -> [judged requests, the student answered, its hits, routed hits, the teacher's hits]."""
    student_misses: dict[tuple[str, str], int] = field(default_factory=dict)
    """(true category, the student's answer) -> how often the student answered so, wrongly."""
    errors: int = 0
    skipped: int = 0
    """Rows offered while every slot was busy: they went to the teacher as production traffic."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, route: str, seconds: float, *, answer: str | None, truth: str | None,
            teacher: str | None, adapter: str | None = None) -> None:
        """Count one answered request (``teacher``: what the teacher answered for it in production;
        ``adapter``: the adapter serving when the router answered)."""
        route = route if route in ROUTES else "teacher"
        with self._lock:
            self.answered[route] += 1
            self.latencies[route].append(seconds)
            if truth is not None:
                hit = int(answer is not None and answer.strip() == truth)
                self.judged[route] += 1
                self.hits[route] += hit
                tally = self.routed_by.setdefault((adapter or "-", truth), [0, 0])
                tally[0] += 1
                tally[1] += hit
                if teacher is not None:
                    mine_a = self.by_adapter.setdefault(adapter or "-", [0, 0, 0, 0, 0])
                    mine_a[0] += 1
                    mine_a[1] += int(route == "student")
                    mine_a[2] += hit if route == "student" else 0
                    mine_a[3] += hit
                    mine_a[4] += int(teacher.strip() == truth)
                if route == "student" and not hit:
                    miss = (truth, (answer or "").strip())
                    self.student_misses[miss] = self.student_misses.get(miss, 0) + 1
                if teacher is not None:
                    self.teacher_judged[route] += 1
                    self.teacher_hits[route] += int(teacher.strip() == truth)
                    mine = self.teacher_by_truth.setdefault(truth, [0, 0])
                    mine[0] += 1
                    mine[1] += int(teacher.strip() == truth)

    def teacher_blind_spot(self, *, min_items: int = 5) -> tuple[str, float, int] | None:
        """The true category the teacher got most wrong in production, with ``min_items`` or more: (it, accuracy, n)."""
        with self._lock:
            seen = [(hits / n, -n, truth) for truth, (n, hits) in self.teacher_by_truth.items() if n >= min_items]
        if not seen:
            return None
        accuracy, minus_n, truth = min(seen)
        return truth, accuracy, -minus_n

    def per_adapter(self) -> list[tuple[str, int, float, float | None, float, float]]:
        """Per serving adapter, in the order first seen: (adapter, requests judged, the student's share,
        its accuracy on that share, the routed system's accuracy, the teacher's accuracy on the same requests)."""
        with self._lock:
            rows = list(self.by_adapter.items())
        return [(a, n, k / n, hits / k if k else None, routed / n, teacher / n)
                for a, (n, k, hits, routed, teacher) in rows if n]

    def worst_misses(self, k: int = 5) -> list[tuple[str, str, int]]:
        """The student's ``k`` most common mistakes: (true category, its answer, count), most first."""
        with self._lock:
            ranked = sorted(self.student_misses.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(truth, answer, n) for (truth, answer), n in ranked[:k]]

    def routed_on(self, truth: str) -> list[tuple[str, int, float]]:
        """The routed system on one true category, per serving adapter: (adapter, items, accuracy)."""
        with self._lock:
            return [(adapter, n, hits / n) for (adapter, t), (n, hits) in self.routed_by.items() if t == truth]

    @property
    def total(self) -> int:
        return sum(self.answered.values())

    def share(self, route: str) -> float | None:
        """Share of answered requests that took ``route``."""
        return self.answered[route] / self.total if self.total else None

    def accuracy(self, route: str) -> float | None:
        """Accuracy against ground truth of what ``route`` answered."""
        return self.hits[route] / self.judged[route] if self.judged[route] else None

    def teacher_accuracy(self, route: str) -> float | None:
        """The teacher's accuracy on the same items (its production answers)."""
        n = self.teacher_judged[route]
        return self.teacher_hits[route] / n if n else None

    def routed_accuracy(self) -> float | None:
        """The routed system (student where it answered, teacher elsewhere) against ground truth."""
        judged = sum(self.judged.values())
        return sum(self.hits.values()) / judged if judged else None

    def latency_ms(self, route: str, q: float) -> float | None:
        """The ``q`` quantile (0.5, 0.99) of ``route``'s latency in milliseconds."""
        with self._lock:
            values = sorted(self.latencies[route])
        if not values:
            return None
        return 1000 * values[min(len(values) - 1, int(q * len(values)))]  # nearest rank


Send = Callable[[str], tuple[str, str | None, str | None]]
"""Sends one input through the router: returns (route, answer, the serving adapter's id)."""


def openai_sender(base_url: str, model: str, *, system: str = "", api_key: str = "demo",
                  timeout_s: float = 60.0) -> Send:
    """A :data:`Send` through the ``openai`` client, reading the route from the response header.

    ``system`` is the service's own system prompt (what it sent the teacher before);
    the router forwards it with an escalation, and the student ignores it.
    """
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)
    head: list[Any] = [{"role": "system", "content": system}] if system else []

    def send(text: str) -> tuple[str, str | None, str | None]:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[*head, {"role": "user", "content": text}])
        completion: Any = raw.parse()
        route = raw.headers.get("x-distillery-route", "teacher")
        content = completion.choices[0].message.content if completion.choices else None
        marker = (completion.model_extra or {}).get("distillery")
        adapter = marker.get("adapter_id") if isinstance(marker, dict) else None
        return route, content, adapter if isinstance(adapter, str) else None

    return send


class RoutedTraffic:
    """Sends rows through the router from a few threads; never blocks the caller."""

    def __init__(self, send: Send, *, concurrency: int = 4) -> None:
        self.send = send
        self.stats = RouteStats()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="demo-routed")
        self.last_error: str | None = None

    def offer(self, row: Row) -> bool:
        """Send ``row`` through the router if a slot is free; False: the caller sends it the usual way."""
        if not self._slots.acquire(blocking=False):
            with self.stats._lock:
                self.stats.skipped += 1
            return False
        self._pool.submit(self._one, row)
        return True

    def _one(self, row: Row) -> None:
        started = time.perf_counter()
        try:
            route, answer, adapter = self.send(row.input)
        except Exception as exc:  # noqa: BLE001 - a failed request is counted and shown, never raised into the demo
            with self.stats._lock:
                self.stats.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            return
        finally:
            self._slots.release()
        self.stats.add(route, time.perf_counter() - started, answer=answer, truth=row.label, teacher=row.output,
                       adapter=adapter)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
