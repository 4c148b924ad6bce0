"""The capture SDK on its own sends an event to the real broker that the contract accepts.

A fresh interpreter with nothing but :mod:`distillery_capture` imported (the
script the SDK's own tests use) captures one call and sends it to this test's
private ``inference.events`` topic with a plain ``bootstrap_servers``; the test
reads it back and validates it as the streams worker would.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from distillery.kafka import read_topic
from distillery.validation import parse_inference

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "capture" / "tests" / "sdk_alone.py"
WORKERS = {"distillery", "streams", "trainer", "serving", "monitors", "torch", "transformers", "faust", "duckdb"}


def test_the_sdk_alone_sends_an_event_the_contract_accepts(kafka_settings, tmp_path: Path) -> None:
    s = kafka_settings()
    done = subprocess.run([sys.executable, str(SCRIPT), s.kafka.bootstrap_servers, s.topics.inference],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["stats"] == [1, 0, 0, 0]  # emitted, dropped (full, error), pending
    assert set(report["packages"]) & WORKERS == set()

    records = asyncio.run(read_topic(s.kafka, s.topics.inference, expect=1, timeout_s=30))
    assert [r.key for r in records] == [b"transactions"]
    parsed = parse_inference(records[0].value, tasks=set(s.tasks))
    assert parsed.ok, parsed.problems
    assert parsed.event is not None
    assert (parsed.event.event_id, parsed.event.output, parsed.event.metadata, parsed.event.input_text()) == (
        "chatcmpl-alone-1", "coffee_shops", {"service": "alone"}, "user: STARBUCKS")
