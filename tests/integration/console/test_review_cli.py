"""``distillery review`` over the real broker: next leases and shows the item, a bad correction
exits 2 naming the fix and sends nothing, a good one reaches ``distill.reviewed``, stats count it,
and a second reviewer is never shown the leased item."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from distillery.events import ReviewDecision, ReviewItem
from distillery.kafka import read_topic, send_one

ROOT = Path(__file__).resolve().parents[3]
TASK = "transactions"


def _cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DISTILLERY_"))}
    env.update(DISTILLERY_CONFIG=str(ROOT / "distillery.toml"), KAFKA_BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
               DISTILLERY_TOPIC_PREFIX=settings.topic_prefix, DISTILLERY_DATA_DIR=str(settings.data_dir),
               COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "console", "review", *args], env=env,
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_review_commands_round_trip_through_kafka(kafka_settings) -> None:
    s = kafka_settings()
    for i, answer in enumerate(["fast_food", "fuel"]):
        asyncio.run(send_one(s, ReviewItem(task=TASK, event_id=f"r-{i}", input=f"STARBUCKS #{i}",
                                           reason="low_confidence: 0.41 < 0.70", teacher_output=answer,
                                           teacher_confidence=0.41, ts_ms=1_780_000_000_000 + i)))
    first = _cli(s, "next", "--json", "-r", "ana")
    assert first.returncode == 0, first.stderr
    item = json.loads(first.stdout)
    assert (item["item_id"], item["teacher_output"], item["lease_owner"]) == ("r-0", "fast_food", "ana")
    assert "coffee_shops" in item["labels"]
    other = _cli(s, "next", "-r", "bo")
    assert other.returncode == 0 and "r-1" in other.stdout and "r-0" not in other.stdout
    assert "2 open, 0.0 decided/min" in other.stdout
    bad = _cli(s, "correct", "r-0", "tea", "-r", "ana")
    assert bad.returncode == 2
    assert "'tea' is not one of the 43 labels of task 'transactions'" in " ".join(bad.stderr.split())
    stolen = _cli(s, "accept", "r-0", "-r", "bo")
    assert stolen.returncode == 2 and "leased to 'ana'" in stolen.stderr
    good = _cli(s, "correct", "r-0", "Coffee Shops", "-r", "ana")
    assert good.returncode == 0, good.stderr
    assert "correct r-0 as coffee_shops (task transactions)" in good.stdout
    stats = json.loads(_cli(s, "stats", "--json").stdout)[TASK]
    assert (stats["open"], stats["decided"], stats["disagreement"]["fast_food"]["disagreed"]) == (1, 1, 1)
    records = asyncio.run(read_topic(s.kafka.bootstrap_servers, s.topics.reviewed, expect=1, idle_s=2))
    decisions = [ReviewDecision.model_validate_json(r.value) for r in records]
    assert [(d.item_id, d.decision, d.answer, d.reviewer, d.tool) for d in decisions] == [
        ("r-0", "correct", "coffee_shops", "ana", "cli")]
