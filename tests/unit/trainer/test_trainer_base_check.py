"""The base model answers the gold set only until it is clearly beaten."""

from __future__ import annotations

import random

from trainer.base_check import FIRST_CHUNK, digest_order, score_base_until_beaten, wilson_upper
from trainer.gold import GoldRow
from trainer.predict import Prediction

LABELS = ["a", "b", "c", "d"]


def _gold(n: int) -> list[GoldRow]:
    rng = random.Random(3)
    return [GoldRow(input=f"row {i}", label=rng.choice(LABELS), category="x", teacher=None) for i in range(n)]


class Base:
    """Right on a seeded share of rows; counts what it was asked."""

    def __init__(self, gold: list[GoldRow], accuracy: float) -> None:
        rng = random.Random(5)
        self.truth = {g.input: g.label for g in gold}
        self.right = {g.input: rng.random() < accuracy for g in gold}
        self.asked: list[int] = []

    def __call__(self, texts: list[str]) -> list[Prediction]:
        self.asked.append(len(texts))
        return [Prediction(self.truth[t] if self.right[t] else "wrong", 0.5) for t in texts]


def test_a_weak_base_stops_after_one_chunk() -> None:
    gold = _gold(200)
    base = Base(gold, accuracy=0.1)
    rows, answers = score_base_until_beaten(gold, 0.9, base)
    assert base.asked == [FIRST_CHUNK] and len(rows) == len(answers) == FIRST_CHUNK
    assert rows == digest_order([g.input for g in gold])[:FIRST_CHUNK]
    right = sum(a.answer == gold[i].label for a, i in zip(answers, rows, strict=True))
    assert wilson_upper(right, FIRST_CHUNK) < 0.9


def test_a_base_close_to_the_candidate_answers_every_row() -> None:
    gold = _gold(100)
    base = Base(gold, accuracy=0.85)
    rows, answers = score_base_until_beaten(gold, 0.9, base)
    assert sorted(rows) == list(range(100)) and len(answers) == 100
    assert base.asked == [8, 8, 16, 32, 36]  # chunks double what was answered


def test_stopping_early_never_flips_the_verdict_over_seeded_gold_sets() -> None:
    # 2,000 seeded gold sets where the base is, in truth, as good as the candidate: whenever the base
    # stopped early, answering every row would have shown it below the candidate too
    flipped = stopped = 0
    for seed in range(2000):
        rng = random.Random(seed)
        gold = [GoldRow(input=f"{seed}-{i}", label="a", category="x", teacher=None) for i in range(120)]
        right = {g.input: rng.random() < 0.7 for g in gold}
        rows, _ = score_base_until_beaten(
            gold, 0.7, lambda texts, r=right: [Prediction("a" if r[t] else "b", 0.5) for t in texts])
        if len(rows) < len(gold):
            stopped += 1
            flipped += sum(right.values()) / len(gold) >= 0.7
    assert flipped == 0 and stopped <= 2


def test_wilson_upper_bounds() -> None:
    assert wilson_upper(0, 0) == 1.0
    assert round(wilson_upper(2, 16), 3) == 0.612
    assert round(wilson_upper(50, 100), 3) == 0.686
    assert wilson_upper(100, 100) == 1.0
