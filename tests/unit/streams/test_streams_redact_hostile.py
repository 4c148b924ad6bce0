"""Every regex on untrusted text runs in linear time: 1 MiB of each worst shape (issue #13).

The email pattern was quadratic (each character of a long local-part run started
a rescan of the rest: 0.43 s at 20k characters, minutes at 1 MiB, long enough to
stop heartbeats and rebalance the group); the international phone form tried
hundreds of digit splits after each ``+``; the code-fence pattern of the answer
filter was cubic on a fence followed by spaces. No timing assertion here (the
machine may be busy): each input runs under a generous pytest timeout, which the
old patterns blow by orders of magnitude. ``bench/redact_bench.py`` has the figures.
The rewritten patterns must also match exactly what the old ones did.
"""

from __future__ import annotations

import random
import re

import pytest

from devkit.redact_baseline import hostile_shapes, old_redact
from distillery.settings import load_settings
from streams.redact import _CARD_MORE, _IBAN, _NATIONAL_PHONE, _SSN_MORE, Redactor
from streams.teacher.filters import judge, strip_fences

MIB = 1 << 20


SHAPES = hostile_shapes(MIB)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_mebibyte_of_the_worst_shapes_is_redacted_in_linear_time(name: str) -> None:
    text = SHAPES[name]
    out = Redactor().redact(text)
    assert len(out.text) <= len(text) + 10 * out.total  # placeholders are the only growth


@pytest.mark.timeout(60)
@pytest.mark.parametrize("answer", ["```" + " " * MIB, "```json" + "\n" * MIB + "x", "i" + " " * MIB,
                                    "I " * (MIB // 2), '{"label": ' + "[" * 200_000, '{"a": 1' + "1" * 5000 + "}"])
def test_the_answer_filter_is_linear_and_total_on_huge_production_outputs(answer: str) -> None:
    spec = load_settings(env={}).task("transactions")
    verdict = judge(spec, answer, 0.9)
    assert not verdict.accepted
    extraction = spec.model_copy(update={"kind": "extraction", "labels": [], "output_schema": {"type": "object"}})
    assert not judge(extraction, answer, 0.9).accepted


# ------------------------------------------------------------- same results as before
OLD_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def test_the_linear_patterns_redact_exactly_what_the_old_ones_did() -> None:
    rng = random.Random(13)
    digits = ["".join(rng.choice("0123456789") for _ in range(k)) for k in range(1, 14) for _ in range(2)]
    tokens = ["+", "(", ")", " ", "-", ".", "1", "#", "a", "@", "b.co", "mail.com", "_", "%", "\u0661",
              "4111 1111 1111 1111", "123-45-6789", "(206) 555-0199", "+44 20 7946 0958", *digits]
    added = (_IBAN, _CARD_MORE, _SSN_MORE, _NATIONAL_PHONE)  # rules added later: where none can match, same output
    red = Redactor()
    changed = compared = 0
    for _ in range(20_000):
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(0, 16)))
        expected = old_redact(text)
        if any(rx.search(text) or rx.search(expected[0]) for rx in added):
            continue
        got = red(text)
        assert (got.text, got.counts) == expected, text
        changed += bool(expected[1])
        compared += 1
    assert compared > 10_000 and changed > 1000  # plenty of PII-shaped text still compared


def test_the_fence_stripper_strips_exactly_what_the_old_pattern_did() -> None:
    rng = random.Random(5)
    tokens = ["```", "`", " ", "\n", "\t", "json", "a", "{", "}", "\u00a0", "py"]
    for _ in range(20_000):
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(0, 10)))
        m = OLD_FENCE.match(text)
        assert strip_fences(text) == (m.group(1) if m else text), repr(text)
