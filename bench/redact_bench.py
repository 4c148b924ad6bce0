"""Redaction cost on hostile inputs: 1 MiB of each worst shape, old patterns beside the new.

The redactor runs on every input before it is stored or sent (``streams.redact``).
Its old email pattern was quadratic (a run of local-part characters was rescanned
from each of its characters: 0.43 s at 20k characters, 4x per doubling), and the
international phone form tried hundreds of digit splits after each ``+``. This
measures, in one run:

* **new**: ``Redactor().redact`` on 1 MiB of each shape (best of ``--repeat``), wall
  clock and this process's CPU time (the one less moved by other work on the machine);
* **old**: the previous patterns on the same shapes at 16, 32 and 64 KiB (1 MiB
  would take minutes), with the growth per doubling, and their 1 MiB cost
  extrapolated from the 64 KiB figure by the measured exponent;
* **baseline**: one pass of a plain linear regex (``\\d+`` replaced) over the same
  1 MiB, the floor any scan of the text costs on this machine.

The aim (issue #13): a 1 MiB worst case under 100 ms. ``aims_met`` says whether the
slowest shape met it on this machine; ``linear`` whether every shape's cost grew
at most 3x from 512 KiB to 1 MiB (a linear scan doubles, a quadratic one
quadruples; the margin is for a busy machine).

Usage: ``python bench/redact_bench.py [--quick] [--out bench/results/redact.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streams.redact import PLACEHOLDERS, Redactor, luhn_ok

MIB = 1 << 20
AIM_MS = 100.0

# The patterns as they were before issue #13 (the regression being measured).
OLD_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
OLD_CARD = re.compile(
    r"(?<![\d#])(?:\d{13,19}|\d{4}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,7}|\d{4}(?P<s2>[ -])\d{6}(?P=s2)\d{5})(?!\d)"
)
OLD_SSN = re.compile(r"(?<![\d#])\d{3}-\d{2}-\d{4}(?![\d-])")
OLD_PHONE = re.compile(
    r"(?<![\w#])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"
    r"|(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}|1?\d{10})(?![\w-])"
)
OLD_MAYBE = re.compile(r"@|\d(?:\D*\d){5}")


def old_redact(text: str) -> str:
    """The redactor before issue #13 (built-in rules only)."""

    def sub(rx: re.Pattern[str], kind: str, text: str, check: Callable[[str], bool] | None = None) -> str:
        return rx.sub(lambda m: m.group(0) if check and not check(m.group(0)) else PLACEHOLDERS[kind], text)

    if OLD_MAYBE.search(text):
        text = sub(OLD_EMAIL, "email", text)
        text = sub(OLD_CARD, "card", text, lambda m: luhn_ok(re.sub(r"[ -]", "", m)))
        text = sub(OLD_SSN, "ssn", text)
        text = sub(OLD_PHONE, "phone", text)
    return text


def _fill(unit: str, n: int, prefix: str = "123456 ") -> str:
    """``n`` characters of ``unit`` repeated, after a prefix that defeats the no-PII fast path."""
    return (prefix + unit * (n // len(unit) + 1))[:n]


def shapes(n: int) -> dict[str, str]:
    """The worst shapes found for each rule, ``n`` characters each (seeded)."""
    rng = random.Random(13)
    return {
        "local_run_no_at": _fill("a", n),
        "many_at": _fill("a@", n),
        "only_at": _fill("@", n),
        "dots_after_at": "x@b" + _fill(".b", n - 3, ""),
        "local_dots_then_at": _fill("a.", n - 1) + "@",
        "digits": _fill("1", n),
        "digit_letter": _fill("1a", n),
        "digit_space": _fill("1 ", n),
        "digit_dash": _fill("1-", n),
        "digit_dot": _fill("1.", n),
        "plus_25_digits": _fill("+" + "1" * 25 + " ", n),
        "plus_30_digits": _fill("+" + "1" * 30 + " ", n),
        "plus_groups": _fill("+1 22 33 44 55 66 77 88 99 ", n),
        "plus_dash_groups": _fill("+12-345-678-901-234-567-", n),
        "paren_groups": _fill("+1 (234) ", n),
        "nanp_almost": _fill("1 (206) 555-01", n),
        "ssn_almost": _fill("123-45-678", n),
        "cards": _fill("4111 1111 1111 1111 ", n),
        "random_phone_chars": "".join(rng.choice("0123456789 .-()+") for _ in range(n)),
        "random_email_chars": "".join(rng.choice("ab1.@-_%+") for _ in range(n)),
        "mixed_unicode": "".join(rng.choice("a1 @.-+(\u0661\u00a0\u200b\U0001f600") for _ in range(n)),
        # digit-dense shapes beside the first ones (a digit between each separator kind, runs, near misses)
        "digit_hash": _fill("1#", n),
        "digit_paren": _fill("1(", n),
        "digit_slash": _fill("1/", n),
        "digit_plus": _fill("1+", n),
        "plus_run": _fill("+", n),
        "digit_pairs": _fill("12", n),
        "triples_space": _fill("123 ", n),
        "triples_dash": _fill("123-", n),
        "paren_triples": _fill("(123) ", n),
        "ssn_spaced_almost": _fill("123 45 678", n),
        "groups_of_4": _fill("1234 ", n),
        "groups_of_4_dash": _fill("1234-", n),
        "zero_groups": _fill("00 ", n),
        "national_groups": _fill("01 23 45 67 89 12 ", n),
        "dotted_card_groups": _fill("4111.1111.", n),
        "nine_digit_runs": _fill("123456789 ", n),
        "phones": _fill("(206) 555-0199 ", n),
        "iban_groups": _fill("DE89 ABCD ", n),
        "iban_run": _fill("de89" + "a1" * 20 + " ", n),
    }


def best_ms(fn: Callable[[], Any], repeat: int, clock: Callable[[], float] = time.perf_counter) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return round(best * 1000, 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="one repeat, old patterns up to 32 KiB only (< ~1 min)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench/results/redact.json"))
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    old_sizes = (16 * 1024, 32 * 1024) if args.quick else (16 * 1024, 32 * 1024, 64 * 1024)
    red = Redactor()
    baseline_rx = re.compile(r"\d+")
    t_start = time.perf_counter()
    big, half = shapes(MIB), shapes(MIB // 2)
    rows: dict[str, dict[str, Any]] = {}
    for name, text in big.items():
        new_ms = best_ms(lambda text=text: red(text), repeat)  # type: ignore[misc]
        # CPU time of this process: on a machine shared with other work, the figure least moved by it
        cpu_ms = best_ms(lambda text=text: red(text), repeat, time.process_time)  # type: ignore[misc]
        half_ms = best_ms(lambda name=name: red(half[name]), repeat)  # type: ignore[misc]
        base_ms = best_ms(lambda text=text: baseline_rx.subn("0", text), repeat)  # type: ignore[misc]
        old: dict[str, float] = {}
        for n in old_sizes:
            small = shapes(n)[name]
            old[str(n)] = best_ms(lambda small=small: old_redact(small), 1)  # type: ignore[misc]
        a, b = old[str(old_sizes[-2])], old[str(old_sizes[-1])]
        exponent = math.log2(b / a) if a > 0.5 and b > 0 else 1.0
        old_1mib = b * (MIB / old_sizes[-1]) ** max(exponent, 1.0)
        rows[name] = {
            "new_ms_1mib": new_ms,
            "new_cpu_ms_1mib": cpu_ms,
            "new_ms_half_mib": half_ms,
            "growth_half_to_1mib": round(new_ms / half_ms, 2) if half_ms else None,
            "baseline_regex_pass_ms_1mib": base_ms,
            "new_over_baseline": round(new_ms / base_ms, 1) if base_ms else None,
            "old_ms": old,
            "old_exponent": round(exponent, 2),
            "old_ms_1mib_extrapolated": round(old_1mib, 1),
            "same_output_at_16k": red(shapes(16 * 1024)[name]).text == old_redact(shapes(16 * 1024)[name]),
        }
        print(f"{name:22s} new {new_ms:8.1f} ms (cpu {cpu_ms:6.1f}, half {half_ms:6.1f})  baseline {base_ms:6.1f} ms  "
              f"old {old} ms, ~{old_1mib / 1000:,.1f} s at 1 MiB", flush=True)
    worst = max(rows, key=lambda k: rows[k]["new_ms_1mib"])
    worst_backtracking = max((k for k in rows if rows[k]["old_exponent"] >= 1.5), key=lambda k: rows[k]["new_ms_1mib"],
                             default=None)
    loop_ms = best_ms(lambda: [None for _ in big["digits"]], repeat)
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "aim_ms_1mib": AIM_MS,
        "python_loop_over_1mib_ms": loop_ms,
        "shapes": rows,
        "worst_shape": worst,
        "worst_ms_1mib": rows[worst]["new_ms_1mib"],
        "worst_cpu_ms_1mib": max(r["new_cpu_ms_1mib"] for r in rows.values()),
        "shapes_over_aim": sorted(k for k, r in rows.items() if r["new_ms_1mib"] >= AIM_MS),
        "worst_shape_old_was_superlinear": worst_backtracking,
        "worst_ms_1mib_old_was_superlinear": rows[worst_backtracking]["new_ms_1mib"] if worst_backtracking else None,
        "aims_met": {
            "worst_under_100ms": rows[worst]["new_ms_1mib"] < AIM_MS,
            "linear": all((r["growth_half_to_1mib"] or 0) <= 3.0 for r in rows.values()),
            "same_output_as_old": all(r["same_output_at_16k"] for r in rows.values()),
        },
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    print(f"worst: {worst} {rows[worst]['new_ms_1mib']} ms at 1 MiB (a Python loop over 1 MiB: {loop_ms} ms); "
          f"aims met: {result['aims_met']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
