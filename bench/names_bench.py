"""Cost of the named-entity pass per event, beside the regex redactor's, in one run.

The pass (``streams.names``, ``[streams.names] model``) runs Presidio's analyzer over
a spaCy pipeline on the inputs sampled for the teacher, in batches on its own
thread. This measures, on the same seeded merchant strings (a third of them
person-to-person transfers that carry a name):

* **regex**: ``Redactor().redact`` per event, the cost every ingested event pays;
* **names**: ``NameRedactor.redact_many`` per event, in batches of ``--batch``
  (how the pipeline calls it) and one text at a time (a batch of one event);
* **load**: seconds to load the pipeline and the analyzer (once, at start).

The pipeline is the tests' kind: a blank English spaCy pipeline whose entity ruler
knows the benchmark's first and last names, saved to a temporary folder. It has no
statistical model, so a real one (``en_core_web_lg``: tok2vec, tagger, parser, NER)
costs more per event; this figure is Presidio's own overhead plus a tokenizer.
``per_ingested_event_us`` spreads the pass over the stream at the demo's base rate
(only sampled events pay for it).

Usage: ``python bench/names_bench.py [--quick] [--out bench/results/names.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distillery.settings import NamesSettings
from streams.names import NameRedactor
from streams.redact import Redactor

FIRST = ["jane", "john", "maria", "wei", "ahmed", "olga", "carlos", "priya", "kenji", "fatima"]
LAST = ["doe", "smith", "garcia", "chen", "khan", "ivanova", "lopez", "patel", "sato", "hassan"]
P2P = ["ZELLE TO {}", "VENMO *{}", "PAYPAL *{}", "CASH APP*{} 8774174551", "ZELLE FROM {} CONF# 4F7G2"]
MERCHANTS = ["STARBUCKS #{} SEATTLE WA", "SHELL OIL {} HOUSTON TX", "AMZN MKTP US*2K4{} AMZN.COM/BILL WA",
             "SQ *BLUE BOTTLE COFFEE #{}", "TST* SHAKE SHACK {} NEW YORK NY", "WALGREENS #{} CHICAGO IL"]
BASE_RATE = 0.2  # the demo task's [tasks.transactions.sampling] base_rate


def texts(n: int, seed: int = 7) -> list[str]:
    """``n`` seeded line items, a third of them transfers to or from a named person."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 1 / 3:
            out.append(rng.choice(P2P).format(f"{rng.choice(FIRST)} {rng.choice(LAST)}".upper()))
        else:
            out.append(rng.choice(MERCHANTS).format(rng.randint(100, 9999)))
    return out


def model_folder(root: Path) -> str:
    """The test-style spaCy pipeline: blank English plus an entity ruler for FIRST x LAST."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": [{"LOWER": {"IN": FIRST}}, {"LOWER": {"IN": LAST}}]}])  # type: ignore[attr-defined]
    path = root / "en_bench_names"
    nlp.to_disk(path)
    return str(path)


def best_us(fn: Any, n: int, repeat: int) -> float:
    """Best of ``repeat`` runs of ``fn()``, in microseconds per event."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best / n * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="1,000 events, one repeat (a few seconds)")
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=64, help="texts per redact_many call (the pipeline's batch)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench/results/names.json"))
    args = ap.parse_args(argv)
    n, repeat = (1000, 1) if args.quick else (args.events, args.repeat)
    items = texts(n)
    redactor = Redactor()
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        names = NameRedactor.load(NamesSettings(model=model_folder(Path(tmp)), batch_size=args.batch))
        load_s = time.perf_counter() - began
        try:
            regex_us = best_us(lambda: [redactor(t) for t in items], n, repeat)
            batched_us = best_us(lambda: [names.redact_many(items[i:i + args.batch])
                                          for i in range(0, n, args.batch)], n, repeat)
            single = items[: max(1, n // 5)]
            single_us = best_us(lambda: [names.redact_many([t]) for t in single], len(single), repeat)
            found = sum(r.changed for r in names.redact_many(items))
        finally:
            names.close()
    result = {
        "events": n,
        "batch": args.batch,
        "repeat": repeat,
        "model": "spacy.blank('en') + entity_ruler (no statistical model; en_core_web_lg costs more)",
        "events_with_a_name_found": found,
        "regex_us_per_event": round(regex_us, 2),
        "names_us_per_event_batched": round(batched_us, 1),
        "names_us_per_event_one_at_a_time": round(single_us, 1),
        "ratio_batched_vs_regex": round(batched_us / regex_us, 1),
        "ratio_one_at_a_time_vs_regex": round(single_us / regex_us, 1),
        "per_ingested_event_us_at_base_rate": {"base_rate": BASE_RATE,
                                               "names": round(batched_us * BASE_RATE, 1),
                                               "regex": round(regex_us, 2)},
        "load_s": round(load_s, 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
