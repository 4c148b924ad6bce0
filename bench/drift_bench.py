"""Drift detector benchmark: detection delay, false alarms, misses and cost per event.

Runs every drift signal of ``monitors.signals`` on synthetic, seeded streams
with known change points:

* **delay** - for each signal and several seeds, a stationary stream of
  ``PRE`` (+ a random offset, so changes do not line up with windows) events,
  then a known shift; the delay is the number of events from the change to
  the first firing; a *miss* is no firing within ``HORIZON`` events;
* **false alarms** - firings on long stationary streams (raw detector firings,
  before the alarm gate, so the stricter count), per 100,000 events, with a 95%
  upper bound when none are seen;
* **end to end** - a whole :class:`~monitors.task_monitor.TaskMonitor` on a
  stationary stream of synthetic transaction strings: drift events emitted
  and microseconds per event for all its detectors together;
* **candidates** - the agreement stream on river's other binary detectors,
  the evidence behind choosing ADWIN;
* **reference** - the category signals against a reference from the first
  event (``bench/drift_reference.py``): changes at 500, 2,000 and 5,000 events
  after the start and after a retrain, 77 long-tailed categories with 10 held
  back, new categories one at a time, slow drift, low volume in simulated time,
  and false alarms against a 500-example snapshot (``--reference-stationary``;
  10,000,000 in the full run).

Input streams are merchant-like strings ("SQ *KALOMI #4821 PORVADE TX") drawn
from a seeded vocabulary; the long false-alarm streams resample features of
a pool of such strings (the strings are i.i.d., so this is the same process).

Usage: ``python bench/drift_bench.py [--quick] [--reference-stationary N] [--out bench/results/drift.json]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import drift_reference
from river.drift import ADWIN
from river.drift.binary import DDM, EDDM, FHDDM, HDDMA, HDDMW

from monitors.signals import (
    Agreement,
    CategoryMix,
    CharClassShare,
    Confidence,
    DeadLetterRate,
    InputLength,
    Signal,
    TeacherRejection,
    UnseenTokenShare,
    char_class_shares,
    vocabulary_of,
)
from monitors.task_monitor import TaskMonitor

AIMS = {
    "category_mix_delay_events": 1000,
    "agreement_delay_events": 1500,
    "false_alarms_per_million": 1.0,
    "us_per_event_all_detectors": 20.0,
}
PRE = 20_000
HORIZON = 10_000
N_CATEGORIES = 43

# ------------------------------------------------------------------ text model
_SYL = ["ka", "lo", "mi", "por", "va", "de", "tri", "sun", "bel", "co", "ra", "nex", "al", "to", "ve", "ma",
        "gri", "zo", "pe", "lu", "san", "ter", "qui", "bo", "fa", "den", "ro", "ix", "mo", "ha"]
_PREFIXES = ["SQ *", "TST* ", "PAYPAL *", "POS ", "DEBIT "]
_STATES = ["TX", "CA", "NY", "WA", "FL", "IL", "OR", "MA", "GA", "CO"]


def _words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice(_SYL) for _ in range(rng.randint(2, 4))).upper() for _ in range(n)]


@dataclass(frozen=True)
class TextModel:
    """Merchant strings: [prefix] words [#store] city state; each knob is one signal's shift."""

    words: tuple[int, int] = (1, 3)
    store_digits: tuple[int, int] = (2, 4)
    prefix_prob: float = 0.3
    title_prob: float = 0.0
    new_word_prob: float = 0.0


@dataclass
class TextSource:
    rng: random.Random
    merchants: list[str]
    cities: list[str]
    new_merchants: list[str]
    cum_weights: list[float] = field(default_factory=list)

    @classmethod
    def make(cls, seed: int) -> TextSource:
        rng = random.Random(1000 + seed)
        vocab_rng = random.Random(0)  # the same vocabulary for every seed
        merchants, cities, new = _words(vocab_rng, 3000), _words(vocab_rng, 200), _words(vocab_rng, 3000)
        # merchant popularity is Zipf-like, so a training window misses the rare ones
        return cls(rng, merchants, cities, new, list(itertools.accumulate(1.0 / (i + 1) for i in range(len(merchants)))))

    def text(self, m: TextModel) -> str:
        rng = self.rng
        parts = []
        if rng.random() < m.prefix_prob:
            parts.append(rng.choice(_PREFIXES))
        for _ in range(rng.randint(*m.words)):
            pool = self.new_merchants if rng.random() < m.new_word_prob else None
            parts.append(rng.choice(pool) if pool else rng.choices(self.merchants, cum_weights=self.cum_weights)[0])
        k = rng.randint(*m.store_digits)
        if k:
            parts.append("#" + "".join(rng.choice("0123456789") for _ in range(k)))
        parts += [rng.choice(self.cities), rng.choice(_STATES)]
        text = " ".join(parts)
        return text.title() if rng.random() < m.title_prob else text

    def texts(self, m: TextModel, n: int) -> list[str]:
        return [self.text(m) for _ in range(n)]


BASE_TEXT = TextModel()


def training_vocabulary() -> frozenset[str]:
    """The vocabulary of a 5,000-input training window of the stationary stream."""
    return vocabulary_of(TextSource.make(-1).texts(BASE_TEXT, 5000))


# ------------------------------------------------------------ category mixes
def zipf_mix(k: int = N_CATEGORIES) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1)
    return p / p.sum()


def moved_mix(p: np.ndarray, kind: str, size: float = 0.2) -> np.ndarray:
    """``p`` with ``size`` of the mix moved: to the rarest category, away from the largest,
    or ``spread`` from the 10 largest to the 10 rarest in proportion to their shares."""
    q = p.copy()
    if kind == "spread":
        q[:10] -= size * p[:10] / p[:10].sum()
        q[-10:] += size * p[-10:] / p[-10:].sum()
        return q
    i = len(p) - 1 if kind == "rare_up" else 0
    q[i] = p[i] + size if kind == "rare_up" else p[i] - size
    rest = np.arange(len(p)) != i
    q[rest] = p[rest] * (1 - q[i]) / (1 - p[i])
    return q


# ------------------------------------------------------------------ scenarios
Feed = Callable[[Signal, Any], bool]


def _update(signal: Signal, x: Any) -> bool:
    return signal.update(x)


@dataclass(frozen=True)
class Scenario:
    """One signal under one known shift."""

    name: str
    make: Callable[[], Signal]
    before: Callable[[int, int], list[Any]]  # (seed, n) -> observations
    after: Callable[[int, int], list[Any]]
    shift: str
    feed: Feed = _update


def _text_stream(model: TextModel, feature: Callable[[str], Any]) -> Callable[[int, int], list[Any]]:
    def gen(seed: int, n: int) -> list[Any]:
        src = TextSource.make(seed)
        return [feature(t) for t in src.texts(model, n)]
    return gen


def _shifted_text(model: TextModel, feature: Callable[[str], Any]) -> Callable[[int, int], list[Any]]:
    def gen(seed: int, n: int) -> list[Any]:
        src = TextSource.make(seed + 50_000)
        return [feature(t) for t in src.texts(model, n)]
    return gen


def _bernoulli(p: float, salt: int) -> Callable[[int, int], list[Any]]:
    return lambda seed, n: (np.random.default_rng([seed, salt]).random(n) < p).tolist()


def _beta(a: float, b: float, salt: int) -> Callable[[int, int], list[Any]]:
    return lambda seed, n: np.random.default_rng([seed, salt]).beta(a, b, n).tolist()


def _cats(p: np.ndarray, salt: int) -> Callable[[int, int], list[Any]]:
    names = np.array([f"cat{i:02d}" for i in range(len(p))])
    return lambda seed, n: names[np.random.default_rng([seed, salt]).choice(len(p), n, p=p)].tolist()


def scenarios(vocab: frozenset[str]) -> list[Scenario]:
    def unseen() -> Signal:
        return UnseenTokenShare(vocab)

    def share(i: int) -> Callable[[str], float]:
        return lambda t: char_class_shares(t)[i]

    p = zipf_mix()
    return [
        Scenario("input_length", InputLength, _text_stream(BASE_TEXT, len),
                 _shifted_text(replace(BASE_TEXT, words=(2, 4)), len), "merchant words 1-3 -> 2-4 (+~25% chars)"),
        Scenario("digit_share", lambda: CharClassShare("digit"), _text_stream(BASE_TEXT, share(0)),
                 _shifted_text(replace(BASE_TEXT, store_digits=(4, 6)), share(0)), "store number 2-4 -> 4-6 digits"),
        Scenario("upper_share", lambda: CharClassShare("upper"), _text_stream(BASE_TEXT, share(1)),
                 _shifted_text(replace(BASE_TEXT, title_prob=0.15), share(1)), "15% of inputs title-cased"),
        Scenario("punct_share", lambda: CharClassShare("punct"), _text_stream(BASE_TEXT, share(2)),
                 _shifted_text(replace(BASE_TEXT, prefix_prob=0.8), share(2)), "processor prefix 30% -> 80%"),
        Scenario("unseen_token_share", unseen, _text_stream(BASE_TEXT, str),
                 _shifted_text(replace(BASE_TEXT, new_word_prob=0.2), str), "20% of merchant words new",
                 feed=lambda s, t: s.observe(t)),  # type: ignore[attr-defined]
        Scenario("category_mix/rare_up", CategoryMix, _cats(p, 1), _cats(moved_mix(p, "rare_up"), 2),
                 "rarest of 43 categories +0.20 of the mix (Zipf)"),
        Scenario("category_mix/big_down", CategoryMix, _cats(p, 1), _cats(moved_mix(p, "big_down"), 3),
                 "largest of 43 categories -0.20 of the mix (Zipf)"),
        Scenario("category_mix/spread", CategoryMix, _cats(p, 1), _cats(moved_mix(p, "spread"), 13),
                 "0.20 of the mix from the 10 largest to the 10 rarest"),
        Scenario("confidence", Confidence, _beta(9, 1, 4), _beta(17 / 3, 1, 5), "mean 0.90 -> 0.85 (Beta)"),
        Scenario("agreement", Agreement, _bernoulli(0.95, 6), _bernoulli(0.85, 7), "agreement 95% -> 85%"),
        Scenario("teacher_rejection", TeacherRejection, _bernoulli(0.05, 8), _bernoulli(0.10, 9),
                 "rejections 5% -> 10%"),
        Scenario("dead_letter", DeadLetterRate, _bernoulli(0.01, 10), _bernoulli(0.03, 11),
                 "dead letters 1% -> 3%"),
    ]


# --------------------------------------------------------------------- delay
def run_delay(sc: Scenario, seeds: int) -> dict[str, Any]:
    delays: list[int] = []
    before_est: list[float] = []
    after_est: list[float] = []
    missed = 0
    early = 0
    for seed in range(seeds):
        pre = PRE + random.Random(seed).randrange(1000)
        stream = sc.before(seed, pre) + sc.after(seed, HORIZON)
        signal = sc.make()
        hit = None
        for i, x in enumerate(stream):
            if sc.feed(signal, x):
                if i < pre:
                    early += 1
                else:
                    hit = i - pre
                    change = signal.last_change
                    if change is not None and change.before is not None and change.after is not None:
                        before_est.append(change.before)
                        after_est.append(change.after)
                    break
        if hit is None:
            missed += 1
        else:
            delays.append(hit)
    return {
        "shift": sc.shift,
        "level_before": _level(sc, sc.before(10_000, 20_000)),
        "level_after": _level(sc, sc.after(10_000, 20_000)),
        "seeds": seeds,
        "mean_delay": round(statistics.fmean(delays), 1) if delays else None,
        "p90_delay": int(np.percentile(delays, 90)) if delays else None,
        "max_delay": max(delays) if delays else None,
        "missed": missed,
        "false_alarms_before_change": early,
        # what the drift events would report (category mix: distance from the reference)
        "reported_before": round(statistics.fmean(before_est), 4) if before_est else None,
        "reported_after": round(statistics.fmean(after_est), 4) if after_est else None,
    }


def _level(sc: Scenario, values: list[Any]) -> float | None:
    """The signal's level on a stream: its mean (unseen share for texts); None for categories."""
    probe = sc.make()
    if isinstance(probe, UnseenTokenShare):
        values = [probe.unseen_share(t) for t in values]
        values = [v for v in values if v is not None]
    if not values or isinstance(values[0], str):
        return None
    return round(float(np.mean(values)), 4)


# -------------------------------------------------------------- false alarms
def _stationary_values(sc: Scenario, n: int, pool: dict[str, list[Any]], seed: int) -> Iterator[Any]:
    """``n`` stationary observations; text features resampled from a pool, others generated."""
    name = sc.name.split("/")[0]
    chunk = 1_000_000
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        if name in pool:
            idx = np.random.default_rng([seed, start, 99]).integers(0, len(pool[name]), m)
            vals = pool[name]
            yield from (vals[j] for j in idx.tolist())
        else:
            yield from sc.before(seed * 1000 + start // chunk, m)


def run_false_alarms(sc: Scenario, n: int, pool: dict[str, list[Any]], seeds: int) -> dict[str, Any]:
    fired = 0
    per_seed = n // seeds
    t0 = time.perf_counter()
    for seed in range(seeds):
        signal = sc.make()
        feed = sc.feed
        for x in _stationary_values(sc, per_seed, pool, seed):
            if feed(signal, x):
                fired += 1
    total = per_seed * seeds
    return {
        "stationary_events": total,
        "false_alarms": fired,
        "per_100k": round(fired / total * 1e5, 4),
        "per_million_95ub": round((fired + 3.0 if fired == 0 else fired + 2 * math.sqrt(fired) + 2) / total * 1e6, 3),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def feature_pool(vocab: frozenset[str], n: int) -> dict[str, list[Any]]:
    texts = TextSource.make(777).texts(BASE_TEXT, n)
    shares = [char_class_shares(t) for t in texts]
    return {
        "input_length": [len(t) for t in texts],
        "digit_share": [s[0] for s in shares],
        "upper_share": [s[1] for s in shares],
        "punct_share": [s[2] for s in shares],
        "unseen_token_share": texts,
    }


# ---------------------------------------------------------------- end to end
def run_end_to_end(vocab: frozenset[str], n: int, label_rate: float = 0.2) -> dict[str, Any]:
    src = TextSource.make(4242)
    rng = np.random.default_rng(4242)
    texts = src.texts(BASE_TEXT, min(n, 200_000))
    cats = _cats(zipf_mix(), 12)(4242, n)
    conf = rng.beta(9, 1, n).tolist()
    labeled = (rng.random(n) < label_rate).tolist()
    agree = (rng.random(n) < 0.95).tolist()
    rejected = (rng.random(n) < 0.05).tolist()
    monitor = TaskMonitor("bench", vocabulary=vocab)
    events = []
    t_input = t_teacher = 0.0
    n_teacher = 0
    clock = time.perf_counter
    for i in range(n):
        t = clock()
        events += monitor.observe_input(texts[i % len(texts)], category=cats[i], confidence=conf[i])
        t_input += clock() - t
        if labeled[i]:
            t = clock()
            events += monitor.observe_teacher(rejected=rejected[i], agree=agree[i])
            t_teacher += clock() - t
            n_teacher += 1
    # the worst case: every detector updated on every event (every event labeled)
    probe = TaskMonitor("probe", vocabulary=vocab)
    m = min(n, 100_000)
    t = clock()
    for i in range(m):
        probe.observe_input(texts[i % len(texts)], category=cats[i], confidence=conf[i])
        probe.observe_teacher(rejected=rejected[i], agree=agree[i])
    all_us = (clock() - t) / m * 1e6
    return {
        "events": n,
        "labeled_share": label_rate,
        "drift_events": len(events),
        "drift_signals": sorted({e.signal for e in events}),
        "us_per_input_event": round(t_input / n * 1e6, 2),
        "us_per_teacher_event": round(t_teacher / max(n_teacher, 1) * 1e6, 2),
        "us_per_event_at_label_rate": round((t_input + t_teacher) / n * 1e6, 2),
        "us_per_event_all_detectors": round(all_us, 2),
    }


# ---------------------------------------------------------------- candidates
def _candidates() -> dict[str, tuple[Callable[[], Any], bool]]:
    """Detector factories for the agreement stream, and whether they take 1 = agree."""
    return {
        "ADWIN (chosen)": (lambda: ADWIN(delta=Agreement().detector.delta), False),
        "DDM": (DDM, False),
        "EDDM": (EDDM, False),
        "FHDDM(1000, 1e-6)": (lambda: FHDDM(sliding_window_size=1000, confidence_level=1e-6), True),
        "HDDM_A(1e-4)": (lambda: HDDMA(drift_confidence=1e-4), False),
        "HDDM_W(1e-4)": (lambda: HDDMW(drift_confidence=1e-4), False),
    }


def run_candidates(n_stationary: int, seeds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (make, takes_agree) in _candidates().items():
        row: dict[str, Any] = {}
        t0 = time.perf_counter()
        for p0, p1 in ((0.95, 0.85), (0.70, 0.60)):
            delays, missed, fa = [], 0, 0
            for seed in range(seeds):
                rng = np.random.default_rng([seed, 77])
                pre = PRE + int(rng.integers(1000))
                agree = np.concatenate([rng.random(pre) < p0, rng.random(HORIZON) < p1])
                xs = (agree if takes_agree else ~agree).astype(int).tolist()
                det = make()
                for i, x in enumerate(xs):
                    det.update(x)
                    if det.drift_detected:
                        if i < pre:
                            fa += 1
                            continue
                        delays.append(i - pre)
                        break
                else:
                    missed += 1
            stat_fa = 0
            rng = np.random.default_rng(123)
            xs = (rng.random(n_stationary) < p0)
            det = make()
            for x in (xs if takes_agree else ~xs).astype(int).tolist():
                det.update(x)
                stat_fa += det.drift_detected
            row[f"{p0:.2f}->{p1:.2f}"] = {
                "mean_delay": round(statistics.fmean(delays), 1) if delays else None,
                "missed": missed,
                "false_alarms_per_100k": round((stat_fa + fa) / (n_stationary + seeds * PRE) * 1e5, 3),
            }
        row["seconds"] = round(time.perf_counter() - t0, 1)
        out[name] = row
    return out


# -------------------------------------------------------------------- report
def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text when rich is absent
        print(f"\n{title}\n" + " | ".join(columns))
        for r in rows:
            print(" | ".join("-" if v is None else str(v) for v in r))
        return
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*("-" if v is None else str(v) for v in r))
    Console(width=200).print(table)


def _params(signal: Signal) -> dict[str, Any]:
    """The tuned detector parameters a signal runs with."""
    if isinstance(signal, CategoryMix):
        return {"window": signal.fixed_window or "3 per category, 100-400", "delta": signal.delta,
                "threshold": signal.threshold, "warmup": [signal.warmup_min, signal.warmup_per_category,
                                                          signal.warmup_max], "window_s": signal.window_s}
    adwin = getattr(signal, "detector", None)
    return {"delta": getattr(adwin, "delta", None), "clock": getattr(adwin, "clock", None)}


def _arrow(a: float | None, b: float | None) -> str:
    return "" if a is None or b is None else f"{a:.3g} -> {b:.3g}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer seeds and events (< ~60 s)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/drift.json"))
    ap.add_argument("--reference-stationary", type=int, default=None,
                    help="stationary events per category count in the reference section (quick 500,000; full 10M)")
    args = ap.parse_args(argv)
    seeds, stationary, e2e, cand_n, cand_seeds = (
        (5, 500_000, 100_000, 100_000, 3) if args.quick else (20, 10_000_000, 1_000_000, 1_000_000, 10)
    )
    t0 = time.perf_counter()
    vocab = training_vocabulary()
    pool = feature_pool(vocab, 100_000)
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "aims": AIMS,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "signals": {},
    }
    false_alarms: dict[str, dict[str, Any]] = {}
    for sc in scenarios(vocab):
        row = run_delay(sc, seeds)
        # the category-mix shifts share one stationary stream, measured once
        signal_name = sc.name.split("/")[0]
        if signal_name not in false_alarms:
            false_alarms[signal_name] = run_false_alarms(sc, stationary, pool, seeds=min(seeds, 5))
        row["false_alarms"] = false_alarms[signal_name]
        probe = sc.make()
        row["detector"] = probe.detector_name
        row["params"] = _params(probe)
        result["signals"][sc.name] = row
        print(f"{sc.name}: delay {row['mean_delay']} missed {row['missed']} FA {row['false_alarms']['false_alarms']} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    result["stationary_all_signals"] = {
        "events": sum(fa["stationary_events"] for fa in false_alarms.values()),
        "false_alarms": sum(fa["false_alarms"] for fa in false_alarms.values()),
        "note": "each signal on its own stationary stream; raw detector firings, before the alarm gate",
    }
    result["end_to_end"] = run_end_to_end(vocab, e2e)
    result["candidates_agreement"] = run_candidates(cand_n, cand_seeds)
    ref_stationary = args.reference_stationary or (500_000 if args.quick else 10_000_000)
    result["reference"] = drift_reference.run(seeds, ref_stationary)
    sig = result["signals"]
    result["aims_met"] = {
        "category_mix_delay": all(sig[k]["missed"] == 0 and (sig[k]["mean_delay"] or 1e9) <= AIMS[
            "category_mix_delay_events"] for k in ("category_mix/rare_up", "category_mix/big_down")),
        "agreement_delay": sig["agreement"]["missed"] == 0
        and (sig["agreement"]["mean_delay"] or 1e9) <= AIMS["agreement_delay_events"],
        "false_alarms": all(r["false_alarms"]["per_million_95ub"] <= AIMS["false_alarms_per_million"]
                            or r["false_alarms"]["false_alarms"] == 0 for r in sig.values()),
        "cost": result["end_to_end"]["us_per_event_all_detectors"] <= AIMS["us_per_event_all_detectors"],
        **{f"reference_{k}": v for k, v in result["reference"]["aims_met"].items()},
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)

    _table(
        f"Drift signals ({result['mode']}: {seeds} seeds, change after ~{PRE:,} events, horizon {HORIZON:,})",
        ["signal", "detector", "shift", "level", "reported", "mean delay", "p90", "max", "missed",
         "stationary events", "FA", "FA/100k"],
        [[k, r["detector"], r["shift"], _arrow(r["level_before"], r["level_after"]),
          _arrow(r["reported_before"], r["reported_after"]), r["mean_delay"],
          r["p90_delay"], r["max_delay"], f"{r['missed']}/{r['seeds']}",
          f"{r['false_alarms']['stationary_events']:,}", r["false_alarms"]["false_alarms"],
          r["false_alarms"]["per_100k"]] for k, r in sig.items()],
    )
    e = result["end_to_end"]
    _table("TaskMonitor end to end (stationary)", ["events", "drift events", "us/input event",
           "us/teacher event", "us/event at 20% labeled", "us/event all detectors"],
           [[f"{e['events']:,}", e["drift_events"], e["us_per_input_event"], e["us_per_teacher_event"],
             e["us_per_event_at_label_rate"], e["us_per_event_all_detectors"]]])
    _table("Agreement stream on river's detectors (mean delay / missed / FA per 100k)",
           ["detector", "0.95->0.85", "0.70->0.60"],
           [[k, *(f"{v[s]['mean_delay']} / {v[s]['missed']} / {v[s]['false_alarms_per_100k']}"
                  for s in ("0.95->0.85", "0.70->0.60"))] for k, v in result["candidates_agreement"].items()])
    ref = result["reference"]
    _table("Against a reference from the first event (first firing of category_mix or new_category)",
           ["case", "runs", "missed", "fired before", "mean delay", "max delay"],
           [[k, r["runs"], r["missed"], r["false_alarms_before"], r["mean_delay"], r["max_delay"]]
            for part in ("early_changes", "held_back") for k, r in ref[part].items()]
           + [["low volume, 200/day: " + f"{ref['low_volume']['mean_delay_days']} days", ref["low_volume"]["runs"],
               ref["low_volume"]["missed"], ref["low_volume"]["false_alarms_before"], ref["low_volume"]["mean_delay"],
               ref["low_volume"]["max_delay"]]])
    _table("Reference: stationary", ["case", "events", "false alarms", "per million (95% ub)", "us/event"],
           [[k, f"{r['events']:,}", r["false_alarms"], r["per_million_95ub"], r["us_per_event_both_signals"]]
            for k, r in ref["stationary"].items()])
    print("one at a time:", ref["one_at_a_time"], "slow drift:", ref["slow_drift"])
    print("aims met:", result["aims_met"], f"({result['seconds']} s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
