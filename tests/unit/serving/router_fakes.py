"""Fakes the router tests share: a student server that answers by rule, and an event sink."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from distillery.events import AdapterPublished, InferenceEvent, Record
from trainer.predict import Prediction

Rule = Callable[[str], Prediction]


def crow_is_a_bird(text: str) -> Prediction:
    """Sure that a crow is a bird, unsure that anything else is fruit."""
    return Prediction("bird", 0.91) if "crow" in text else Prediction("fruit", 0.2)


class FakeStudent:
    """Serves ``adapter`` (or nothing), answering by ``rule``; records the size of every forward pass."""

    def __init__(self, served: AdapterPublished | None, delay_s: float = 0.0,
                 rule: Rule = crow_is_a_bird) -> None:
        self.adapter, self.delay_s, self.rule = served, delay_s, rule
        self.passes: list[int] = []

    def served(self, task: str) -> AdapterPublished | None:
        return self.adapter

    def serving(self, task: str) -> str | None:
        return self.adapter.adapter_id if self.adapter else None

    def loaded(self, task: str) -> list[str]:
        return [self.adapter.adapter_id] if self.adapter else []

    def predict_served(self, task: str, texts: Sequence[str]) -> tuple[AdapterPublished | None, list[Prediction]]:
        self.passes.append(len(texts))
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.adapter, [self.rule(t) for t in texts]


class Sink:
    """Keeps every inference event offered to it."""

    def __init__(self) -> None:
        self.events: list[InferenceEvent] = []

    def offer(self, record: Record) -> bool:
        assert isinstance(record, InferenceEvent)
        self.events.append(record)
        return True
