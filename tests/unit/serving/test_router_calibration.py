"""On held-out data the router escalates the share its gold-set calibration promised, at the promised accuracy."""

from __future__ import annotations

import random
from collections.abc import Sequence

from devkit.tiny_adapters import toy_spec
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from distillery.settings import Settings
from serving.router import Router
from streams.teacher.completions import TeacherResult
from trainer.calibrate import calibrate_threshold
from trainer.predict import Prediction

N = 4000
TARGET = 0.9


def synthetic(seed: int) -> tuple[list[float], list[bool]]:
    """A calibrated-looking student: right with probability equal to its confidence."""
    rng = random.Random(seed)
    confidences = [round(rng.uniform(1 / 3, 1.0), 4) for _ in range(N)]
    return confidences, [rng.random() < c for c in confidences]


class FixedServer:
    """Answers input ``i`` with the i-th held-out confidence (the model's forward pass is not under test)."""

    def __init__(self, adapter: AdapterPublished, confidences: Sequence[float]) -> None:
        self.adapter, self.confidences = adapter, confidences

    def served(self, task: str) -> AdapterPublished:
        return self.adapter

    def predict_served(self, task: str, texts: Sequence[str]) -> tuple[AdapterPublished, list[Prediction]]:
        return self.adapter, [Prediction("fruit", self.confidences[int(t.split()[1])]) for t in texts]


class Teacher:
    async def label(self, text: str) -> TeacherResult:
        return TeacherResult(text="fruit", label="fruit", confidence=1.0, prompt_tokens=1, completion_tokens=1,
                             cost_usd=0.0, model="t")

    async def aclose(self) -> None:
        return None


def test_held_out_escalation_share_matches_the_calibrated_coverage(settings_factory) -> None:
    settings: Settings = settings_factory(tasks={"toy": toy_spec("toy", target_accuracy=TARGET)})
    confidences, correct = synthetic(seed=11)
    half = N // 2
    calibration = calibrate_threshold(confidences[:half], correct[:half], TARGET)
    assert calibration.threshold is not None
    adapter = AdapterPublished(task="toy", adapter_id="ad", job_id="j", uri="/x", sha256="0" * 64, base_model="b",
                               student_prompt="", metrics=GateMetrics(gold_size=half, candidate=ModelScores(
                                   n=half, accuracy=sum(correct[:half]) / half)),
                               router_threshold=calibration.threshold, router_coverage=calibration.coverage)
    held_conf, held_ok = confidences[half:], correct[half:]
    teacher = Teacher()
    router = Router(settings, FixedServer(adapter, held_conf), teacher=lambda task: teacher,
                    vocabulary=lambda a: None)
    routes = [router.route("toy", f"item {i}").route for i in range(half)]
    router.close()
    student = [i for i, r in enumerate(routes) if r == "student"]
    share = len(student) / half
    accuracy = sum(held_ok[i] for i in student) / len(student)
    assert 0.2 < calibration.coverage < 0.9  # a threshold that actually splits the traffic
    assert abs(share - calibration.coverage) < 0.03, (share, calibration)
    assert abs(router.escalation_share("toy") - (1 - calibration.coverage)) < 0.03
    assert accuracy > TARGET - 0.02, accuracy
