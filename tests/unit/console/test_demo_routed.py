"""The demo's routed traffic: what the router answered, counted against ground truth, never blocking."""

from __future__ import annotations

import threading

from rich.console import Console

from console.demo.routed import RoutedTraffic, RouteStats
from console.demo.runner import served_lines
from console.demo.watch import DemoState, render
from distillery.replay import Row


def test_stats_per_route_against_ground_truth_and_the_teacher_on_the_same_items() -> None:
    s = RouteStats()
    for i in range(10):
        s.add("student", 0.010 + i / 1000, answer="fuel", truth="fuel" if i < 9 else "bars", teacher="fuel")
    s.add("teacher", 0.2, answer="bars", truth="bars", teacher="bars")
    s.add("teacher", 0.3, answer="gas", truth=None, teacher=None)  # no ground truth: counted, not judged
    assert s.total == 12 and s.share("student") == 10 / 12
    assert s.accuracy("student") == 0.9 and s.teacher_accuracy("student") == 0.9
    assert s.accuracy("teacher") == 1.0 and s.routed_accuracy() == 10 / 11
    assert s.latency_ms("student", 0.5) == 15.0 and s.latency_ms("student", 0.99) == 19.0
    assert s.latency_ms("teacher", 0.5) == 300.0


def test_a_busy_router_leaves_the_row_to_the_caller_and_failures_are_counted() -> None:
    gate = threading.Event()

    def send(text: str) -> tuple[str, str | None, str | None]:
        gate.wait(5)
        if text == "boom":
            raise ConnectionError("router down")
        return "student", "fuel", "a1"

    traffic = RoutedTraffic(send, concurrency=2)
    assert traffic.offer(Row("a", "fuel", "fuel")) and traffic.offer(Row("boom", "fuel", "fuel"))
    assert not traffic.offer(Row("c", "fuel", "fuel"))  # both slots busy: the caller sends it to the teacher
    gate.set()
    traffic.close()
    assert traffic.stats.answered == {"student": 1, "teacher": 0}
    assert traffic.stats.routed_on("fuel") == [("a1", 1, 1.0)]
    assert traffic.stats.errors == 1 and traffic.stats.skipped == 1
    assert traffic.last_error is not None and "router down" in traffic.last_error


def test_the_end_of_the_demo_says_what_the_student_served() -> None:
    state = DemoState()
    assert served_lines(state) == ["served by the student: nothing (no adapter was promoted); "
                                   "every request went to the teacher"]
    state.routed = RouteStats()
    state.routed.add("student", 0.02, answer="fuel", truth="fuel", teacher="fuel")
    state.routed.add("teacher", 0.1, answer="bars", truth="bars", teacher="bars")
    for i in range(6):  # the teacher calls every dental clinic medical; the second adapter learnt otherwise
        state.routed.add("student", 0.02, answer="dental" if i >= 4 else "medical", truth="dental",
                         teacher="medical", adapter="a2" if i >= 4 else "a1")
    lines = served_lines(state)
    assert lines[0].startswith("served through the router: 8 requests; the student answered 7 (87.5%)")
    assert lines[-1] == ("the teacher's worst category here: dental, 0% right of 6; the routed system on it, "
                         "by serving adapter: a1 0% of 4, a2 100% of 2")
    assert "student accuracy on what it answered: 42.9% against ground truth" in lines[1]
    assert lines[-2] == "the student's commonest mistakes on that traffic (truth -> its answer): dental -> medical 4"
    assert lines[-3] == ("by serving adapter (the student's share at its accuracy; routed system; the teacher on the "
                         "same requests): - 50% of 2 at 100.0%, routed 100.0%, teacher 100.0%; a1 100% of 4 at 0.0%, "
                         "routed 0.0%, teacher 0.0%; a2 100% of 2 at 100.0%, routed 100.0%, teacher 0.0%")
    console = Console(record=True, width=140)
    console.print(render(state))
    text = console.export_text()
    assert "router: 8 requests" in text and "teacher (escalated)" in text and "router (student 88%" in text
