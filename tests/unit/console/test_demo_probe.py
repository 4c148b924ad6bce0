"""The blind-spot probe: each serving adapter probed once, in full, and only once it serves."""

from __future__ import annotations

import time
from typing import Any

from console.demo.probe import BlindSpotProbe
from devkit.sim.transactions import TransactionGenerator


def test_an_adapter_is_probed_once_it_serves_and_its_answers_are_kept_whole() -> None:
    serving = {"id": "a0"}
    calls: list[str] = []

    def route(event_id: str, text: str) -> dict[str, Any]:
        calls.append(event_id)
        right = serving["id"] == "a2"
        return {"adapter_id": serving["id"], "student_answer": "dental" if right else "medical",
                "answer": "dental" if right and len(calls) % 2 else "medical"}

    probe = BlindSpotProbe(route, "dental", "medical", ["t1", "t2", "t3", "t4"])

    def offer(adapter: str) -> None:
        probe.offer(adapter, every_s=0.0)
        for _ in range(100):
            if not probe._busy.locked():
                break
            time.sleep(0.01)
        time.sleep(0.02)

    offer("a1")  # published, not yet swapped in: one request, nothing kept
    assert probe.tally.probed("a1") == 0 and len(calls) == 1
    serving["id"] = "a1"
    offer("a1")
    offer("a1")  # probed already: no more requests
    assert probe.tally.probed("a1") == 4 and len(calls) == 5
    serving["id"] = "a2"
    offer("a2")
    assert probe.tally.tallies == {"a1": [4, 0, 0], "a2": [4, 4, 2]}
    assert probe.line().endswith("a1 student 0% right of 4 (routed 0%); a2 student 100% right of 4 (routed 50%)")


def test_the_generator_draws_a_probe_of_one_category() -> None:
    gen = TransactionGenerator(seed=1)
    items = [gen.sample_of("dental_vision") for _ in range(20)]
    assert {t.category for t in items} == {"dental_vision"}
    assert len({t.text for t in items}) > 10
