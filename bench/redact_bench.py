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
  1 MiB, the floor any scan of the text costs on this machine;
* **before** (``--before DIR``): the redactor of another checkout (``DIR/streams/redact.py``,
  say the main branch's) on the same 1 MiB, CPU time, interleaved with the new one so both
  see the same load, and whether both give the same text and counts.

The aim (issue #13): a 1 MiB worst case under 100 ms. ``aims_met`` says whether the
slowest shape met it on this machine (``worst_under_100ms`` by wall clock,
``worst_cpu_under_100ms`` by this process's CPU time); ``linear`` (wall) and
``linear_cpu`` whether every shape's cost grew at most 3x from 512 KiB to 1 MiB
(a linear scan doubles, a quadratic one quadruples; the margin is for a busy machine).

Usage: ``python bench/redact_bench.py [--quick] [--shapes NAME ...] [--before DIR] [--out bench/results/redact.json]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devkit.redact_baseline import hostile_shapes, old_redact
from streams.redact import Redactor

MIB = 1 << 20
AIM_MS = 100.0

def best_ms(fn: Callable[[], Any], repeat: int, clock: Callable[[], float] = time.perf_counter) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return round(best * 1000, 2)


def load_redactor(checkout: Path) -> Callable[[str], Any]:
    """The ``Redactor`` of another checkout's ``streams/redact.py``, loaded beside this one."""
    spec = importlib.util.spec_from_file_location("before_redact", checkout / "streams" / "redact.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"--before {checkout}: no streams/redact.py there; give the root of a Distillery checkout")
    module = importlib.util.module_from_spec(spec)
    sys.modules["before_redact"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.Redactor()  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="one repeat, old patterns up to 32 KiB only (< ~1 min)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench/results/redact.json"))
    ap.add_argument("--shapes", nargs="+", metavar="NAME", help="only these shapes (devkit.redact_baseline)")
    ap.add_argument("--before", type=Path, metavar="DIR",
                    help="also time the redactor of the checkout at DIR (e.g. the main branch's) on each shape")
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    old_sizes = (16 * 1024, 32 * 1024) if args.quick else (16 * 1024, 32 * 1024, 64 * 1024)
    red = Redactor()
    baseline_rx = re.compile(r"\d+")
    t_start = time.perf_counter()
    before = load_redactor(args.before) if args.before else None
    big, half = hostile_shapes(MIB), hostile_shapes(MIB // 2)
    unknown = sorted(set(args.shapes or ()) - set(big))
    if unknown:
        raise SystemExit(f"--shapes {' '.join(unknown)}: no such shape; choose from {', '.join(sorted(big))}")
    rows: dict[str, dict[str, Any]] = {}
    for name, text in big.items():
        if args.shapes and name not in args.shapes:
            continue
        new_ms = best_ms(lambda text=text: red(text), repeat)  # type: ignore[misc]
        # CPU time of this process: on a machine shared with other work, the figure least moved by it
        cpu_ms = best_ms(lambda text=text: red(text), repeat, time.process_time)  # type: ignore[misc]
        half_ms = best_ms(lambda name=name: red(half[name]), repeat)  # type: ignore[misc]
        half_cpu_ms = best_ms(lambda name=name: red(half[name]), repeat, time.process_time)  # type: ignore[misc]
        base_ms = best_ms(lambda text=text: baseline_rx.subn("0", text), repeat)  # type: ignore[misc]
        old: dict[str, float] = {}
        for n in old_sizes:
            small = hostile_shapes(n)[name]
            old[str(n)] = best_ms(lambda small=small: old_redact(small), 1)  # type: ignore[misc]
        a, b = old[str(old_sizes[-2])], old[str(old_sizes[-1])]
        exponent = math.log2(b / a) if a > 0.5 and b > 0 else 1.0
        old_1mib = b * (MIB / old_sizes[-1]) ** max(exponent, 1.0)
        if before is not None:  # CPU time, best of repeat, interleaved with the new one's
            before_cpu = after_cpu = math.inf
            for _ in range(repeat):
                before_cpu = min(before_cpu, best_ms(lambda text=text: before(text), 1, time.process_time))  # type: ignore[misc]
                after_cpu = min(after_cpu, best_ms(lambda text=text: red(text), 1, time.process_time))  # type: ignore[misc]
            cpu_ms = min(cpu_ms, after_cpu)
            old_out, new_out = before(text), red(text)
        rows[name] = {
            "new_ms_1mib": new_ms,
            "new_cpu_ms_1mib": cpu_ms,
            "new_ms_half_mib": half_ms,
            "growth_half_to_1mib": round(new_ms / half_ms, 2) if half_ms else None,
            "new_cpu_ms_half_mib": half_cpu_ms,
            "growth_half_to_1mib_cpu": round(cpu_ms / half_cpu_ms, 2) if half_cpu_ms else None,
            "baseline_regex_pass_ms_1mib": base_ms,
            "new_over_baseline": round(new_ms / base_ms, 1) if base_ms else None,
            "old_ms": old,
            "old_exponent": round(exponent, 2),
            "old_ms_1mib_extrapolated": round(old_1mib, 1),
            "same_output_at_16k": red(hostile_shapes(16 * 1024)[name]).text == old_redact(hostile_shapes(16 * 1024)[name])[0],
        }
        if before is not None:
            rows[name] |= {"before_cpu_ms_1mib": before_cpu, "speedup_cpu": round(before_cpu / cpu_ms, 1),
                           "same_output_as_before": (old_out.text, old_out.counts) == (new_out.text, new_out.counts)}
        print(f"{name:22s} new {new_ms:8.1f} ms (cpu {cpu_ms:6.1f}, half {half_ms:6.1f})  baseline {base_ms:6.1f} ms  "
              f"old {old} ms, ~{old_1mib / 1000:,.1f} s at 1 MiB"
              + (f"  before cpu {rows[name]['before_cpu_ms_1mib']:6.1f}" if before is not None else ""), flush=True)
    worst = max(rows, key=lambda k: rows[k]["new_ms_1mib"])
    worst_backtracking = max((k for k in rows if rows[k]["old_exponent"] >= 1.5), key=lambda k: rows[k]["new_ms_1mib"],
                             default=None)
    loop_ms = best_ms(lambda: [None for _ in big["digits"]], repeat)
    if before is not None:
        result_before = {"same_output_as_before": all(r["same_output_as_before"] for r in rows.values())}
    else:
        result_before = {}
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
        "shapes_over_aim_cpu": sorted(k for k, r in rows.items() if r["new_cpu_ms_1mib"] >= AIM_MS),
        "before": str(args.before) if args.before else None,
        "worst_shape_old_was_superlinear": worst_backtracking,
        "worst_ms_1mib_old_was_superlinear": rows[worst_backtracking]["new_ms_1mib"] if worst_backtracking else None,
        "aims_met": {
            "worst_under_100ms": rows[worst]["new_ms_1mib"] < AIM_MS,
            "linear": all((r["growth_half_to_1mib"] or 0) <= 3.0 for r in rows.values()),
            "linear_cpu": all((r["growth_half_to_1mib_cpu"] or 0) <= 3.0 for r in rows.values()),
            "worst_cpu_under_100ms": all(r["new_cpu_ms_1mib"] < AIM_MS for r in rows.values()),
            "same_output_as_old": all(r["same_output_at_16k"] for r in rows.values()),
            **result_before,
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
