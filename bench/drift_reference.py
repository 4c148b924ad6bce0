"""Drift against a reference (issue #17): the category signals from the first event, at any volume.

Part of ``bench/drift_bench.py`` (its ``reference`` section), runnable alone.
Every case runs :class:`~monitors.signals.CategoryMix` and
:class:`~monitors.signals.NewCategory` together, as a task's monitor does; a
*detection* is the first firing of either after the change, a *false alarm*
any firing before it (raw firings, before the alarm gate). Cases:

* **early changes** - a 15-point move of the mix at event 500, 2,000 or 5,000
  after the start (no adapter: the warm-up builds the reference) and after a
  retrain (the reference is a 2,000-example snapshot of the old mix);
* **held back** - 77 long-tailed categories, 10 absent from a 3,000-example
  snapshot, then a quarter of traffic;
* **one at a time** - five new categories, one every 2,000 events, each at 8%;
* **slow drift** - 30 points of the mix moved linearly over 20,000 events;
* **low volume** - 200 events a day in simulated time (event-time windows),
  a 2,000-example snapshot, change on day 10;
* **stationary** - traffic from the true mix against a snapshot of only 500
  examples of it (5 and 77 categories): false alarms per million events.

Usage: ``python bench/drift_reference.py [--stationary 200000] [--seeds 10]``
(``--stationary 10000000`` is the issue's 10-million-event run).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.signals import CategoryMix, NewCategory

AIMS = {"delay_events": 1000, "false_alarms_per_million": 1.0}
DAY_MS = 86_400_000


def zipf(k: int, s: float = 1.0) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** s
    return w / w.sum()


def moved(p: np.ndarray, size: float = 0.15) -> np.ndarray:
    """``size`` of the mass taken proportionally from all but the smallest category and given to it."""
    q = p * (1 - size / (1 - p[-1]))
    q[-1] = p[-1] + size
    return q / q.sum()


def draw(rng: np.random.Generator, cats: Sequence[str], p: np.ndarray, n: int) -> list[str]:
    idx = rng.choice(len(cats), size=n, p=p)
    return [cats[i] for i in idx]


def snapshot(rng: np.random.Generator, cats: Sequence[str], p: np.ndarray, n: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in draw(rng, cats, p, n):
        counts[c] = counts.get(c, 0) + 1
    return counts


class Pair:
    """The two category signals of one monitor, fed together."""

    def __init__(self, reference: dict[str, int] | None = None) -> None:
        self.mix = CategoryMix()
        self.new = NewCategory()
        if reference is not None:
            self.mix.set_reference(reference, source="adapter")
            self.new.set_reference(reference, source="adapter")

    def update(self, c: str, t_ms: int | None = None) -> bool:
        a = self.mix.update(c, t_ms)
        if self.new.reference_source == "none" and self.mix.reference_source == "warm-up":
            self.new.set_reference(self.mix.reference, source="warm-up")
        b = self.new.update(c, t_ms)
        return a or b


def first_after(pair: Pair, stream: Sequence[str], change: int,
                times: Sequence[int] | None = None) -> tuple[int | None, int]:
    """(delay of the first firing at or after ``change``, firings before it)."""
    early = 0
    for i, c in enumerate(stream):
        if pair.update(c, times[i] if times is not None else None):
            if i < change:
                early += 1
            else:
                return i - change, early
    return None, early


def _summary(delays: list[int | None], early: int) -> dict[str, Any]:
    got = sorted(d for d in delays if d is not None)
    return {"runs": len(delays), "missed": len(delays) - len(got), "false_alarms_before": early,
            "mean_delay": round(statistics.fmean(got)) if got else None, "max_delay": got[-1] if got else None}


def early_changes(seeds: int, horizon: int = 3000) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in (5, 43):
        cats = [f"c{i}" for i in range(k)]
        p = zipf(k)
        q = moved(p)
        for when in ("start", "retrain"):
            for at in (500, 2000, 5000):
                delays, early = [], 0
                for seed in range(seeds):
                    rng = np.random.default_rng(1000 * k + seed)
                    pair = Pair(snapshot(rng, cats, p, 2000) if when == "retrain" else None)
                    d, e = first_after(pair, draw(rng, cats, p, at) + draw(rng, cats, q, horizon), at)
                    delays.append(d)
                    early += e
                out[f"{k} categories, 15 points at {at} after the {when}"] = _summary(delays, early)
    return out


def held_back(seeds: int, horizon: int = 3000) -> dict[str, Any]:
    cats = [f"i{i}" for i in range(77)]
    p = zipf(77, 0.8)
    rng0 = np.random.default_rng(7)
    held = rng0.choice(77, size=10, replace=False)
    kept = np.ones(77, dtype=bool)
    kept[held] = False
    p_kept = np.where(kept, p, 0.0)
    p_kept /= p_kept.sum()
    p_after = np.where(kept, p_kept * 0.75, 0.025)
    out: dict[str, Any] = {}
    for at in (500, 2000, 5000):
        for when in ("start", "retrain"):
            delays, early = [], 0
            for seed in range(seeds):
                rng = np.random.default_rng(77_000 + seed)
                pair = Pair(snapshot(rng, cats, p_kept, 3000) if when == "retrain" else None)
                d, e = first_after(pair, draw(rng, cats, p_kept, at) + draw(rng, cats, p_after, horizon), at)
                delays.append(d)
                early += e
            out[f"10 of 77 held back, then 25%, at {at} after the {when}"] = _summary(delays, early)
    return out


def one_at_a_time(seeds: int, every: int = 2000, share: float = 0.08) -> dict[str, Any]:
    base = [f"c{i}" for i in range(20)]
    p = zipf(20)
    named: list[int] = []
    delays: list[int | None] = []
    for seed in range(seeds):
        rng = np.random.default_rng(5000 + seed)
        pair = Pair(snapshot(rng, base, p, 2000))
        stream: list[str] = draw(rng, base, p, every)
        for j in range(5):
            cats = base + [f"new{m}" for m in range(j + 1)]
            q = np.concatenate([p * (1 - share * (j + 1)), np.full(j + 1, share)])
            stream += draw(rng, cats, q, every)
        seen: dict[str, int] = {}
        for i, c in enumerate(stream):
            if pair.new.update(c) and pair.new.last_change is not None:
                for d in pair.new.detail()["new"]:
                    seen.setdefault(d["category"], i)
        named.append(sum(f"new{m}" in seen for m in range(5)))
        delays += [seen[f"new{m}"] - every * (m + 1) if f"new{m}" in seen else None for m in range(5)]
    got = [d for d in delays if d is not None]
    return {"new categories": 5 * seeds, "named": sum(named), "mean_delay": round(statistics.fmean(got)) if got else None,
            "max_delay": max(got) if got else None}


def slow_drift(seeds: int, length: int = 20_000, size: float = 0.30) -> dict[str, Any]:
    cats = [f"c{i}" for i in range(43)]
    p = zipf(43)
    q = moved(p, size)
    at_points: list[int | None] = []
    for seed in range(seeds):
        rng = np.random.default_rng(9000 + seed)
        pair = Pair(snapshot(rng, cats, p, 2000))
        fired = None
        for i in range(length + 5000):
            f = min(i / length, 1.0)
            c = cats[int(rng.choice(43, p=(1 - f) * p + f * q))]
            if pair.update(c):
                fired = i
                break
        at_points.append(fired)
    got = [x for x in at_points if x is not None]
    return {"runs": seeds, "missed": seeds - len(got),
            "mean_fired_at": round(statistics.fmean(got)) if got else None,
            "moved_points_at_firing": round(size * statistics.fmean(got) / length * 100, 1) if got else None}


def low_volume(seeds: int, per_day: int = 200, change_day: int = 10, days: int = 30) -> dict[str, Any]:
    cats = [f"c{i}" for i in range(5)]
    p = zipf(5)
    q = moved(p)
    delays, days_late, early = [], [], 0
    for seed in range(seeds):
        rng = np.random.default_rng(3000 + seed)
        pair = Pair(snapshot(rng, cats, p, 2000))
        n = per_day * days
        at = per_day * change_day
        times = np.sort(rng.uniform(0, days * DAY_MS, size=n)).astype(np.int64).tolist()
        at = int(np.searchsorted(times, change_day * DAY_MS))
        stream = draw(rng, cats, p, at) + draw(rng, cats, q, n - at)
        d, e = first_after(pair, stream, at, times)
        delays.append(d)
        early += e
        if d is not None:
            days_late.append((times[at + d] - times[at]) / DAY_MS)
    out = _summary(delays, early)
    out["mean_delay_days"] = round(statistics.fmean(days_late), 2) if days_late else None
    return out


def stationary(events: int, seeds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, s in ((5, 1.0), (77, 0.8)):
        cats = [f"c{i}" for i in range(k)]
        p = zipf(k, s)
        fired = 0
        per = events // seeds
        t0 = time.perf_counter()
        for seed in range(seeds):
            rng = np.random.default_rng(11_000 + 100 * k + seed)
            pair = Pair(snapshot(rng, cats, p, 500))
            left = per
            while left:
                chunk = min(left, 200_000)
                fired += sum(pair.update(c) for c in draw(rng, cats, p, chunk))
                left -= chunk
        secs = time.perf_counter() - t0
        total = per * seeds
        out[f"{k} categories, reference of 500"] = {
            "events": total, "false_alarms": fired, "per_million": round(fired / total * 1e6, 3),
            "per_million_95ub": round((3.0 if fired == 0 else fired + 2 * math.sqrt(fired)) / total * 1e6, 3),
            "us_per_event_both_signals": round(secs / total * 1e6, 2),
        }
    return out


def run(seeds: int, stationary_events: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    parts: dict[str, Callable[[], dict[str, Any]]] = {
        "early_changes": lambda: early_changes(seeds),
        "held_back": lambda: held_back(seeds),
        "one_at_a_time": lambda: one_at_a_time(max(2, seeds // 2)),
        "slow_drift": lambda: slow_drift(max(2, seeds // 2)),
        "low_volume": lambda: low_volume(seeds),
        "stationary": lambda: stationary(stationary_events, seeds=min(seeds, 5)),
    }
    result: dict[str, Any] = {"aims": AIMS, "seeds": seeds}
    for name, fn in parts.items():
        result[name] = fn()
        print(f"reference/{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    delays = [r for part in ("early_changes", "held_back") for r in result[part].values()]
    result["aims_met"] = {
        "delay": all(r["missed"] == 0 and (r["max_delay"] or 0) <= AIMS["delay_events"] for r in delays),
        "no_alarm_before_a_change": all(r["false_alarms_before"] == 0 for r in delays),
        "false_alarms": all(r["per_million_95ub"] <= AIMS["false_alarms_per_million"] or r["false_alarms"] == 0
                            for r in result["stationary"].values()),
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--stationary", type=int, default=200_000, help="stationary events per category count")
    ap.add_argument("--out", type=Path, default=Path("bench/results/drift_reference.json"))
    args = ap.parse_args(argv)
    result = run(args.seeds, args.stationary)
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
