"""The whole loop, short: traffic → labels → drift → train job → gate → adapter → served.

A shorter run of ``make demo`` with assertions, on the real broker and a local
teacher server. The student is a tiny random model built offline (training the
real SmolLM2 takes minutes on a CPU; ``make demo`` does that), so what is
checked is the loop, not the model's quality: at least one adapter is published
and picked up by the subscriber; the drift alarm comes after the injected change
and never before; the adapter is judged on the gold set against the base model
and the teacher; every produced event id is accounted for, once. (That the real
student beats its base model is shown by tests/unit/trainer/test_trainer_slow_student.py.)
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from distillery.cli.replay_cmd import produce, synthetic_rows
from distillery.events import AdapterPublished, DriftEvent
from distillery.kafka import read_topic
from distillery.settings import Settings
from distillery.sim.teacher_server import SimTeacherServer
from distillery.sim.transactions import TransactionGenerator
from streams.pipeline import store_path
from streams.store.db import TaskStore
from trainer.tiny import build_tiny_model

ROOT = Path(__file__).resolve().parents[2]
EVENTS, DRIFT_AT, RATE = 4000, 2000, 400.0


def _config(tmp_path: Path, model: str) -> Path:
    text = (ROOT / "distillery.toml").read_text()
    for old, new in {
        'base_model = "smollm2-135m-instruct"': f'base_model = "{model}"',
        "min_new_examples = 2000": "min_new_examples = 600",
        "min_train_examples = 2000": "min_train_examples = 600",
        "cooldown_minutes = 2": "cooldown_minutes = 0.2",
        "max_steps = 120": "max_steps = 150",
        "learning_rate = 0.001": "learning_rate = 0.003",
        "max_below_teacher = 0.6": "max_below_teacher = 1.0",
        "must_beat_base = true": "must_beat_base = false",
        "max_category_regression = 0.25": "max_category_regression = 1.0",
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "e2e.toml"
    path.write_text(text)
    return path


def _records(s: Settings, topic: str, kind):  # type: ignore[no-untyped-def]
    recs = asyncio.run(read_topic(s.kafka.bootstrap_servers, topic, idle_s=1.0, timeout_s=10))
    return [kind.model_validate_json(r.value) for r in recs if r.value]


def test_the_whole_loop(kafka_settings, spawn_worker, tmp_path: Path) -> None:
    model = str(build_tiny_model(tmp_path / "tiny", [t for t, _ in TransactionGenerator(seed=5).stream(400)], seed=0))
    config = _config(tmp_path, model)
    s = kafka_settings()
    server = SimTeacherServer(latency_s=0.005)
    with server.run_in_thread() as teacher:
        env = {"OPENAI_BASE_URL": teacher.base_url}
        workers = {name: spawn_worker(s, *args, config=config, **env) for name, args in (
            ("streams", ["streams"]), ("monitors", ["monitors", "--http-port", "0", "--web-port", "0"]),
            ("trainer", ["trainer"]), ("adapters", ["adapters", "watch"]))}
        time.sleep(8)  # let the consumer groups form
        change_ms: list[int] = []

        def rows():  # type: ignore[no-untyped-def]
            for i, row in enumerate(synthetic_rows(EVENTS, seed=11, drift_at=DRIFT_AT, teacher_accuracy=0.95)):
                if i == DRIFT_AT:
                    change_ms.append(int(time.time() * 1000))
                yield row

        manifest = tmp_path / "manifest.jsonl"
        asyncio.run(produce(s, "transactions", rows(), total=EVENTS, rate=RATE, run_id="e2e",
                            production_model="gpt-4.1", gold_share=0.08, malformed_share=0.0, seed=11,
                            manifest=manifest, quiet=True))

        deadline = time.monotonic() + 420
        published: list[AdapterPublished] = []
        while time.monotonic() < deadline and not published:
            for name, proc in workers.items():
                assert proc.poll() is None, f"{name} died:\n{Path(proc.log_path).read_text()[-3000:]}"
            published = _records(s, s.topics.published, AdapterPublished)
            time.sleep(3)
        assert published, Path(workers["trainer"].log_path).read_text()[-3000:]

        # picked up by the subscriber
        watch_log = Path(workers["adapters"].log_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and published[0].adapter_id not in watch_log.read_text():
            time.sleep(1)
        assert published[0].adapter_id in watch_log.read_text()

    # the adapter was judged on the gold set against the base model and the pinned teacher answers
    m = published[0].metrics
    assert m.base is not None and m.teacher is not None and m.gold_size >= 20
    assert m.candidate.per_category and m.candidate.worst_category is not None

    # drift: alarms after the change, none before
    drifts = _records(s, s.topics.drift, DriftEvent)
    assert drifts, "no drift alarm after the injected change"
    assert all(d.detected_at_ms >= change_ms[0] for d in drifts), [(d.signal, d.detected_at_ms) for d in drifts]

    # every produced event id is accounted for, exactly once
    sent = [json.loads(line)["event_id"] for line in manifest.read_text().splitlines()]
    stored = [r[0] for r in TaskStore(store_path(s, "transactions"), read_only=True).query(
        "SELECT event_id FROM events")]
    assert len(stored) == len(set(stored)), "duplicate rows"
    assert set(stored) == set(sent) and len(sent) == EVENTS
