"""Every Kafka client is built by the one builder, so every client gets the cluster's security settings.

A worker module that builds ``AIOKafkaConsumer(bootstrap_servers=...)`` itself
connects in plaintext to a SASL_SSL cluster and fails there (it happened: the
review queue's feeder, found by the secured-broker integration test).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BUILDS = re.compile(r"\bAIOKafka(?:Consumer|Producer|AdminClient)\(")
ALLOWED = {
    "distillery/kafka.py",  # the builder
    "capture/src/distillery_capture/emitter.py",  # the SDK's producer: its options come from the same builder (capture(kafka=...))
}


def test_no_module_builds_a_kafka_client_past_the_builder() -> None:
    offenders = []
    for package in ("capture", "distillery", "streams", "monitors", "trainer", "serving"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in ALLOWED and BUILDS.search(path.read_text(encoding="utf-8")):
                offenders.append(rel)
    assert offenders == [], f"build these clients with distillery.kafka.consumer/producer/admin: {offenders}"
