"""The monitors worker on the real broker takes its drift reference from the adapter that serves."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from monitors_support import CATS, TASK, WORDS, inference_stream, produce

from distillery.events import AdapterPublished, GateMetrics, ModelScores, TrainJob


def _snapshot(path: Path) -> str:
    rng = random.Random(3)
    rows = [{"event_id": f"s{i}", "input": " ".join(rng.choices(WORDS, k=3)), "label": c, "category": c,
             "split": "train" if i % 5 else "eval"}
            for i, c in enumerate(rng.choices(CATS, [40, 25, 15, 12, 8], k=1000))]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_serving_adapters_training_data_becomes_the_reference(kafka_settings, start_monitors,
                                                                   tmp_path: Path) -> None:
    s = kafka_settings()
    path = tmp_path / "snapshot.parquet"
    job = TrainJob(task=TASK, job_id="j-ref", snapshot_uri=str(path), snapshot_sha256=_snapshot(path))
    adapter = AdapterPublished(task=TASK, adapter_id="a-ref", job_id="j-ref", uri=str(tmp_path), sha256="0" * 64,
                               base_model="b", student_prompt="", snapshot_uri=str(path),
                               metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0)))
    worker = start_monitors(s)
    produce(s, s.topics.inference, inference_stream(seed=1, n=100))
    st = worker.wait_for("warming up", lambda st: TASK in st["tasks"]
                         and st["tasks"][TASK]["counts"].get("events_in") == 100)
    assert st["tasks"][TASK]["references"]["category_mix"] == "none"  # 100 answers: still warming up
    produce(s, s.topics.inference, inference_stream(seed=2, n=300))
    st = worker.wait_for("the warm-up", lambda st: st["tasks"][TASK]["counts"].get("events_in") == 400)
    assert st["tasks"][TASK]["references"]["category_mix"] == "warm-up"
    produce(s, s.topics.train_jobs, [job])
    produce(s, s.topics.published, [adapter])
    st = worker.wait_for("the adapter's reference",
                         lambda st: st["tasks"][TASK]["references"].get("unseen_token_share") == "adapter a-ref")
    refs = st["tasks"][TASK]["references"]
    # the answer mix: the traffic the adapter's window saw (its snapshot's labels are a biased sample of it)
    assert refs["category_mix"] == refs["new_category"] == "adapter a-ref (its traffic)"
    assert refs["input_length"] == refs["agreement"] == "live window"
    assert st["tasks"][TASK]["vocabulary_size"] == len(WORDS)
    assert "drift reference is now adapter a-ref (answer mix: adapter a-ref (its traffic); 10 words)" in worker.log()
