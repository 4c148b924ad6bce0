"""Training snapshots are bounded per task, and never one an adapter or a waiting job needs (issue #13).

Before: every train job left a full Parquet copy of the task's examples in the
artifact store for ever.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hostile_support import settings_for

from distillery.adapter_book import AdapterBook
from distillery.artifacts import ArtifactStore
from distillery.counters import Counters
from distillery.errors import ArtifactError
from distillery.events import AdapterControl, AdapterPublished, AdapterRejected, GateMetrics, ModelScores
from streams.pipeline import Pipeline
from streams.snapshot_retention import (
    DAY_MS,
    InUse,
    RetentionPolicy,
    SnapshotRow,
    doomed,
    gold_to_delete,
    in_use,
)
from streams.store.snapshot import export, mark_published, snapshot_rows

METRICS = GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1.0))
NOW = 100 * DAY_MS


def published(i: int, *, task: str = "t", snapshot_uri: str | None = None) -> AdapterPublished:
    return AdapterPublished(task=task, adapter_id=f"a{i}", job_id=f"j{i}", uri="/x", sha256="0" * 64,
                            base_model="b", student_prompt="", metrics=METRICS, snapshot_uri=snapshot_uri)


def row(i: int, *, age_days: float = 30, gold: str | None = "g", is_published: bool = True) -> SnapshotRow:
    return SnapshotRow(f"j{i}", f"s{i}", gold, created_ms=NOW - int(age_days * DAY_MS), published=is_published)


def ids(rows: list[SnapshotRow]) -> list[str]:
    return [r.job_id for r in rows]


NOTHING = InUse(frozenset(), frozenset())


def test_the_newest_are_kept_and_the_rest_go_oldest_first() -> None:
    rows = [row(i, age_days=30 - i) for i in range(6)]
    assert ids(doomed(rows, RetentionPolicy(keep=2, min_age_ms=0), NOTHING, now_ms=NOW)) == ["j0", "j1", "j2", "j3"]
    assert ids(doomed(rows, RetentionPolicy(keep=6, min_age_ms=0), NOTHING, now_ms=NOW)) == []


def test_nothing_younger_than_the_minimum_age_goes() -> None:
    rows = [row(0, age_days=10), row(1, age_days=7), row(2, age_days=6.99), row(3, age_days=1)]
    policy = RetentionPolicy(keep=1, min_age_ms=7 * DAY_MS)
    assert ids(doomed(rows, policy, NOTHING, now_ms=NOW)) == ["j0", "j1"]


def test_the_production_adapter_and_every_rollback_target_keep_their_snapshot() -> None:
    book = AdapterBook()
    for i in (1, 2, 3):
        book.apply(published(i))
    book.apply(AdapterRejected(task="t", job_id="j4", reason="worse", failed_rules=["accuracy"]))
    rows = [row(i, age_days=30 - i, is_published=i > 0) for i in range(6)]  # j0 never reached Kafka; j5 newest
    use = in_use(book, "t", rows)
    assert sorted(use.job_ids) == ["j1", "j2", "j3", "j5"]  # j5: published on train.jobs, no verdict yet
    assert ids(doomed(rows, RetentionPolicy(keep=1, min_age_ms=0), use, now_ms=NOW)) == ["j0", "j4"]


def test_a_rolled_back_adapter_loses_its_protection_unless_pinned_again() -> None:
    book = AdapterBook()
    for i in (1, 2):
        book.apply(published(i))
    book.apply(AdapterControl(task="t", action="rollback"))  # a2 rolled back: a1 serves
    rows = [row(1, age_days=40), row(2, age_days=30), row(3, age_days=1, is_published=False)]
    policy = RetentionPolicy(keep=1, min_age_ms=0)
    assert ids(doomed(rows, policy, in_use(book, "t", rows), now_ms=NOW)) == ["j2"]
    book.apply(AdapterControl(task="t", action="pin", adapter_id="a2"))
    assert ids(doomed(rows, policy, in_use(book, "t", rows), now_ms=NOW)) == []


def test_an_adapter_names_its_snapshot_by_uri_too_and_other_tasks_do_not_count() -> None:
    book = AdapterBook()
    book.apply(published(7, snapshot_uri="s1"))  # its job id is not in this store; its snapshot is
    book.apply(published(2, task="other"))  # another task's adapter protects nothing here
    book.apply(AdapterRejected(task="other", job_id="j0", reason="no", failed_rules=["x"]))
    rows = [row(0), row(1), row(2), row(3, age_days=1)]
    use = in_use(book, "t", rows)
    assert use.uris == frozenset({"s1"})
    assert ids(doomed(rows, RetentionPolicy(keep=1, min_age_ms=0), use, now_ms=NOW)) == []  # j0, j2: waiting
    rows = [row(0, is_published=False), row(1), row(2, is_published=False), row(3, age_days=1)]
    use = in_use(book, "t", rows)
    assert ids(doomed(rows, RetentionPolicy(keep=1, min_age_ms=0), use, now_ms=NOW)) == ["j0", "j2"]


def test_a_gold_file_goes_only_with_the_last_row_naming_it() -> None:
    rows = [row(0, gold="g0"), row(1, gold="g0"), row(2, gold="g1"), row(3, gold="g1"), row(4, gold=None)]
    assert gold_to_delete(rows, [rows[0]]) == set()
    assert gold_to_delete(rows, [rows[0], rows[1], rows[2], rows[4]]) == {"g0"}


def test_seeded_histories_keep_every_protected_and_every_newest_snapshot() -> None:
    rng = random.Random(13)
    total = 0
    for _ in range(200):
        rows = [row(i, age_days=rng.uniform(0, 60), is_published=rng.random() < 0.8) for i in range(rng.randint(0, 12))]
        book = AdapterBook()
        for r in rows:
            if r.published and rng.random() < 0.5:
                if rng.random() < 0.5:
                    book.apply(published(int(r.job_id[1:])))
                else:
                    book.apply(AdapterRejected(task="t", job_id=r.job_id, reason="no", failed_rules=["x"]))
        if rng.random() < 0.3:
            book.apply(AdapterControl(task="t", action="rollback"))
        policy = RetentionPolicy(keep=rng.randint(1, 4), min_age_ms=rng.choice([0, 7 * DAY_MS]))
        use = in_use(book, "t", rows)
        going = doomed(rows, policy, use, now_ms=NOW)
        newest = set(ids(sorted(rows, key=lambda r: (r.created_ms, r.job_id))[-policy.keep:]))
        serving = {a.job_id for a in book.candidates("t")}
        for r in going:
            assert r.job_id not in newest | serving and NOW - r.created_ms >= policy.min_age_ms
            assert not r.published or r.job_id in {a.job_id for a in book.published.values()} | {
                x.job_id for x in book.state("t").rejected}
        total += len(going)
    assert total == 334  # the seed's histories do delete: the test cannot pass by deleting nothing


# ------------------------------------------------------------ the real store and artifact folder
TASK = "transactions"


def _add_example(pipeline: Pipeline, i: int) -> None:
    with pipeline.store(TASK).connect() as con:
        con.execute("INSERT INTO examples VALUES (?, ?, 'groceries', 'groceries', 'teacher', 'm', 0.9, NULL, "
                    "'train', 0, 0)", [f"e{i}", f"SHOP {i}"])


def _add_gold(pipeline: Pipeline, i: int) -> None:
    with pipeline.store(TASK).connect() as con:
        con.execute("INSERT INTO gold VALUES (?, ?, 'groceries', 'groceries', 'human', NULL, NULL, 0)",
                    [f"g{i}", f"GOLD {i}"])


def _uri_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


@pytest.fixture
def pipeline(tmp_path: Path):
    settings = settings_for(tmp_path)
    settings = settings.with_overrides(streams=settings.streams.model_copy(update={"snapshots_keep": 1}))
    p = Pipeline(settings, Counters("streams"))
    yield p
    p.revoked()


def _four_jobs(pipeline: Pipeline) -> list[SnapshotRow]:
    """j0 (served), j1 (rejected, its own gold), j2 (waiting for the trainer), j3 (newest)."""
    jobs = []
    for i in range(4):
        _add_example(pipeline, i)
        if i in (1, 2):
            _add_gold(pipeline, i)
        job = export(pipeline.store(TASK), pipeline.artifacts, TASK, reason="count").job
        mark_published(pipeline.store(TASK), job.job_id)
        jobs.append(job)
    with pipeline.store(TASK).connect() as con:  # the three first were cut a month ago
        for job in jobs[:3]:
            con.execute("UPDATE snapshots SET created_ms = created_ms - ? WHERE job_id = ?", [30 * DAY_MS, job.job_id])
    return snapshot_rows(pipeline.store(TASK))


def _book(rows: list[SnapshotRow]) -> AdapterBook:
    book = AdapterBook()
    book.apply(published(0, task=TASK).model_copy(update={"job_id": rows[0].job_id}))
    book.apply(AdapterRejected(task=TASK, job_id=rows[1].job_id, reason="worse", failed_rules=["accuracy"]))
    return book


def test_an_old_unreferenced_snapshot_and_its_gold_go_and_referenced_ones_stay(pipeline: Pipeline) -> None:
    rows = _four_jobs(pipeline)
    assert len({r.gold_uri for r in rows}) == 3  # j0, j1, j2 = j3
    done = pipeline.prune_snapshots(TASK, _book(rows))
    assert (done.deleted, done.failed) == (1, 0)
    assert not _uri_path(rows[1].uri).exists() and not _uri_path(rows[1].gold_uri or "").exists()
    for kept in (rows[0], rows[2], rows[3]):
        assert _uri_path(kept.uri).exists() and _uri_path(kept.gold_uri or "").exists()
    assert [r.job_id for r in snapshot_rows(pipeline.store(TASK))] == [rows[0].job_id, rows[2].job_id, rows[3].job_id]
    assert pipeline.counters.get(TASK, "snapshots_deleted") == 1
    assert pipeline.prune_snapshots(TASK, _book(rows)).deleted == 0  # nothing more to do


def test_a_snapshot_that_cannot_be_deleted_is_logged_kept_and_tried_again(pipeline: Pipeline,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _four_jobs(pipeline)

    def refuse(self: ArtifactStore, uri: str) -> bool:
        raise ArtifactError(f"cannot delete artifact {uri}: PermissionError: denied")

    with monkeypatch.context() as m:
        m.setattr(ArtifactStore, "remove", refuse)
        done = pipeline.prune_snapshots(TASK, _book(rows))
    assert (done.deleted, done.failed) == (0, 1)
    assert len(snapshot_rows(pipeline.store(TASK))) == 4 and _uri_path(rows[1].uri).exists()
    assert pipeline.counters.get(TASK, "snapshot_delete_errors") == 1
    assert pipeline.prune_snapshots(TASK, _book(rows)).deleted == 1
    assert not _uri_path(rows[1].uri).exists()


def test_the_store_refuses_to_delete_outside_its_folder(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for uri in (f"file://{victim}", store.uri("../victim.txt"), "s3://bucket/x"):
        with pytest.raises(ArtifactError, match="not a file inside the artifact store"):
            store.remove(uri)
    assert victim.exists()
