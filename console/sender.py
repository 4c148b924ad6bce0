"""Send rows to ``inference.events`` at a steady rate: what ``distillery replay`` and the demo drive.

Each row becomes one :class:`~distillery.events.InferenceEvent` (built by
:func:`distillery.replay.to_event`, with production's prompt overhead in its
usage, as a real service's event would carry). A share of labeled rows is sent
with its label (they feed the frozen gold set), a share of broken messages can
be mixed in (the dead-letter path), and a manifest can record every event id
with its ground truth. A progress bar shows the rate on stderr.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from distillery.kafka import ensure_topics, make_producer
from distillery.replay import MALFORMED, Row, to_event
from distillery.settings import Settings

console = Console(stderr=True)


async def produce(settings: Settings, task: str, rows: Iterator[Row], *, total: int, rate: float,
                  run_id: str, production_model: str | None, gold_share: float, malformed_share: float,
                  seed: int, manifest: Path | None, quiet: bool = False) -> dict[str, int]:
    """Send ``rows`` as events at ``rate`` per second; return what was sent."""
    await ensure_topics(settings)
    producer = make_producer(settings, linger_ms=20, max_batch_size=256 * 1024)
    rng = random.Random(seed)
    sent = {"events": 0, "malformed": 0, "gold": 0}
    out = manifest.open("w") if manifest else None
    topic = settings.topics.inference
    # production ran on the teacher with its long prompt: usage says so, as a real service's would
    prompt_overhead = settings.task(task).economics.teacher_prompt_tokens
    await producer.start()
    start = time.monotonic()
    progress = Progress(TextColumn("[bold]replay[/]"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]:.0f}/s"), TimeRemainingColumn(),
                        console=console, disable=quiet)
    try:
        with progress:
            bar = progress.add_task("replay", total=total, rate=0.0)
            for i, row in enumerate(rows):
                if malformed_share and rng.random() < malformed_share:
                    value = MALFORMED[rng.randrange(len(MALFORMED))]
                    await producer.send(topic, value, key=task.encode())
                    sent["malformed"] += 1
                    if out:
                        out.write(json.dumps({"malformed": True, "value": value.decode("latin-1")}) + "\n")
                gold = row.label is not None and rng.random() < gold_share
                ev = to_event(row, task=task, event_id=f"{run_id}-{i:08d}", ts_ms=int(time.time() * 1000),
                              production_model=production_model, with_label=gold,
                              prompt_tokens=prompt_overhead + max(1, len(row.input) // 4))
                await producer.send(topic, ev.to_json(), key=ev.key())
                sent["events"] += 1
                sent["gold"] += int(gold)
                if out:
                    out.write(json.dumps({"event_id": ev.event_id, "gold": gold, "truth": row.label,
                                          "index": i}) + "\n")
                if rate > 0:
                    ahead = (i + 1) / rate - (time.monotonic() - start)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                if i % 50 == 0:
                    elapsed = max(1e-6, time.monotonic() - start)
                    progress.update(bar, completed=i + 1, rate=(i + 1) / elapsed)
            progress.update(bar, completed=total)
        await producer.flush()
    finally:
        await producer.stop()
        if out:
            out.close()
    return sent
