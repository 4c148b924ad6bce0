"""What a teacher call costs: exact from usage afterwards, estimated before.

Prices are USD per million tokens from ``TeacherSpec``; the Batch API bills half.
The estimate starts from characters / 4 (a fair rule of thumb for English and
merchant strings) and learns from real usage: an exponential moving average of
the ratio real/estimated prompt tokens and of the completion tokens, so the
budget check tightens after the first few calls.

>>> from distillery.taskspec import TeacherSpec
>>> cost_usd(1_000_000, 0, TeacherSpec(price_input_per_mtok=2.0, price_output_per_mtok=8.0))
2.0
>>> cost_usd(1000, 10, TeacherSpec(), batch=True)
0.00104
"""

from __future__ import annotations

import math

from distillery.taskspec import TaskSpec, TeacherSpec

BATCH_DISCOUNT = 0.5
"""The Batch API's price as a share of the online price."""

CHARS_PER_TOKEN = 4.0


def cost_usd(prompt_tokens: int, completion_tokens: int, teacher: TeacherSpec, *, batch: bool = False) -> float:
    """USD for one call with these token counts at the teacher's prices."""
    usd = (prompt_tokens * teacher.price_input_per_mtok + completion_tokens * teacher.price_output_per_mtok) / 1e6
    return round(usd * (BATCH_DISCOUNT if batch else 1.0), 10)


def tokens_from_chars(chars: int) -> int:
    """Token estimate for ``chars`` characters (chars / 4, rounded up).

    >>> tokens_from_chars(0), tokens_from_chars(9)
    (0, 3)
    """
    return math.ceil(chars / CHARS_PER_TOKEN)


class CostEstimator:
    """Per-task estimate of a call's cost before it is made, refined by real usage."""

    def __init__(self, spec: TaskSpec, *, alpha: float = 0.05) -> None:
        self.spec = spec
        self.alpha = alpha
        self.prompt_ratio = 1.0
        if spec.kind == "classification":
            longest = max((len(label) for label in spec.labels), default=8)
            self.completion_tokens = float(min(spec.teacher.max_tokens, tokens_from_chars(longest) + 2))
        else:
            # No idea yet how long an answer is: assume the cap, so the budget errs safe.
            self.completion_tokens = float(spec.teacher.max_tokens)
        self.observed = 0

    def estimate_tokens(self, prompt_chars: int) -> tuple[int, int]:
        """(prompt tokens, completion tokens) expected for a prompt of ``prompt_chars``."""
        # the epsilon keeps float noise (154.00000000000003) from adding a token
        return (
            math.ceil(tokens_from_chars(prompt_chars) * self.prompt_ratio - 1e-9),
            math.ceil(self.completion_tokens - 1e-9),
        )

    def estimate_usd(self, prompt_chars: int, *, batch: bool = False) -> float:
        prompt, completion = self.estimate_tokens(prompt_chars)
        return cost_usd(prompt, completion, self.spec.teacher, batch=batch)

    def observe(self, prompt_chars: int, prompt_tokens: int, completion_tokens: int) -> None:
        """Learn from one real call's usage."""
        guess = max(1, tokens_from_chars(prompt_chars))
        # The first observation replaces the prior outright; later ones blend in.
        a = 1.0 if self.observed == 0 else self.alpha
        self.prompt_ratio += a * (prompt_tokens / guess - self.prompt_ratio)
        self.completion_tokens += a * (completion_tokens - self.completion_tokens)
        self.observed += 1
