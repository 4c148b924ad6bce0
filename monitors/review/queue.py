"""The review queue's store: one SQLite file shared by the review page and the CLI.

Every write is one ``BEGIN IMMEDIATE`` transaction, so two processes handing
out items never lease the same one: :meth:`ReviewQueue.next` picks the best
open item whose lease is free (or expired) and leases it in the same
transaction. Rows come only from Kafka records (:meth:`ReviewQueue.ingest`,
called by the feeder with the offsets it read up to); a decision made here is
produced to ``distill.reviewed`` first and only then marked (the feeder marks it
again when it reads it back, which changes nothing).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from distillery.answers import decode, encode
from distillery.errors import ReviewError
from distillery.events import (
    AdapterPublished,
    AdapterRejected,
    DeadLetter,
    DriftEvent,
    LabeledExample,
    Record,
    ReviewDecision,
    ReviewItem,
    ReviewVerdict,
)
from distillery.settings import Settings
from monitors.review.priority import audit_rate, audited, tier, worst_categories
from streams.review_answers import check_answer
from streams.teacher.labels import label_set

AUDITED_SOURCES = frozenset({"teacher", "teacher_batch", "production", "router_escalation"})
"""Labels that are some teacher's answer (ground truth is never audited)."""

RATE_WINDOW_MS = 15 * 60_000
"""Decisions per minute are counted over this window."""

DDL = (
    """CREATE TABLE IF NOT EXISTS items (
        task TEXT NOT NULL, item_id TEXT NOT NULL, origin TEXT NOT NULL, reason TEXT NOT NULL, input TEXT NOT NULL,
        category TEXT, teacher_output TEXT, teacher_confidence REAL, teacher_model TEXT, student_output TEXT,
        ts_ms INTEGER NOT NULL, tier INTEGER NOT NULL, rank INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'open',
        lease_owner TEXT, lease_until_ms INTEGER NOT NULL DEFAULT 0, decision TEXT, decided_by TEXT,
        decided_ms INTEGER, PRIMARY KEY (task, item_id))""",
    "CREATE INDEX IF NOT EXISTS items_next ON items (state, tier, rank, ts_ms)",
    "CREATE TABLE IF NOT EXISTS gold_window (task TEXT PRIMARY KEY, armed_ms INTEGER NOT NULL, reason TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gold_quota (task TEXT NOT NULL, category TEXT NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY (task, category))",
    """CREATE TABLE IF NOT EXISTS decisions (
        decision_id TEXT PRIMARY KEY, task TEXT NOT NULL, item_id TEXT NOT NULL, decision TEXT NOT NULL,
        answer TEXT, teacher_output TEXT, category TEXT, origin TEXT, reviewer TEXT, tool TEXT,
        decided_ms INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS decisions_by_category ON decisions (task, category, decided_ms)",
    "CREATE TABLE IF NOT EXISTS drift (task TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS worst (task TEXT PRIMARY KEY, categories TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS seen (task TEXT NOT NULL, category TEXT NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY (task, category))",
    "CREATE TABLE IF NOT EXISTS offsets (topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL, "
    "PRIMARY KEY (topic, part))",
)

_ITEM_COLS = ("task", "item_id", "origin", "reason", "input", "category", "teacher_output", "teacher_confidence",
              "teacher_model", "student_output", "ts_ms", "tier", "rank", "state", "lease_owner", "lease_until_ms",
              "decision", "decided_by", "decided_ms")


@dataclass(frozen=True)
class QueueItem:
    """One item as a reviewer sees it (``input`` is already redacted by the streams worker)."""

    task: str
    item_id: str
    origin: str
    reason: str
    input: str
    category: str | None
    teacher_output: str | None
    teacher_confidence: float | None
    teacher_model: str | None
    student_output: str | None
    ts_ms: int
    tier: int
    rank: int
    state: str
    lease_owner: str | None
    lease_until_ms: int
    decision: str | None
    decided_by: str | None
    decided_ms: int | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def queue_path(settings: Settings) -> Path:
    """Where a deployment's queue lives: ``DATA_DIR/review/<prefix>queue.sqlite``."""
    return settings.data_dir / "review" / f"{settings.topic_prefix}queue.sqlite"


def _now() -> int:
    return int(time.time() * 1000)


class ReviewQueue:
    """The queue of one deployment (every task), in one SQLite file."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        self.settings = settings
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._tx() as con:
            for stmt in DDL:
                con.execute(stmt)

    @classmethod
    def for_settings(cls, settings: Settings) -> ReviewQueue:
        return cls(queue_path(settings), settings)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One immediate (write-locking) transaction on a fresh connection."""
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()

    # ------------------------------------------------------------------ in
    def offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to read per (topic, partition)."""
        with self._tx() as con:
            return {(t, p): n for t, p, n in con.execute("SELECT topic, part, next FROM offsets")}

    def ingest(self, records: Sequence[Record], offsets: Mapping[tuple[str, int], int]) -> int:
        """Take in records read from Kafka and the offsets read up to, in one transaction; items added."""
        added = 0
        with self._tx() as con:
            for rec in records:
                added += self._ingest_one(con, rec)
            con.executemany("INSERT OR REPLACE INTO offsets VALUES (?, ?, ?)",
                            [[t, p, n] for (t, p), n in offsets.items()])
        return added

    def _ingest_one(self, con: sqlite3.Connection, rec: Record) -> int:
        if rec.task not in self.settings.tasks:
            return 0
        if isinstance(rec, ReviewItem):
            category = self._category(rec.task, rec.teacher_output)
            return self._add(con, rec.task, rec.event_id, "review", rec.reason, rec.input, category,
                             rec.teacher_output, rec.teacher_confidence, rec.teacher_model, rec.student_output,
                             rec.ts_ms)
        if isinstance(rec, LabeledExample):
            if rec.source not in AUDITED_SOURCES:
                return 0
            spec = self.settings.task(rec.task).review
            category = self._category(rec.task, rec.label) or "_"
            counts = dict(con.execute("SELECT category, n FROM seen WHERE task = ?", [rec.task]).fetchall())
            con.execute("INSERT INTO seen VALUES (?, ?, 1) ON CONFLICT (task, category) DO UPDATE SET n = n + 1",
                        [rec.task, category])
            rank = counts.get(category, 0)  # rarer categories first within a tier
            shown = None if category == "_" else category
            gold_reason = self._gold_candidate(con, rec.task, category, rec.ts_ms)
            if gold_reason is not None:
                return self._add(con, rec.task, rec.event_id, "gold", gold_reason, rec.input, shown, rec.label,
                                 rec.teacher_confidence, rec.teacher_model, rec.student_output, rec.ts_ms, rank)
            found = self._found_errors(con, rec.task, category, spec.found_error_window)
            if not audited(rec.task, rec.event_id, audit_rate(spec, category, counts, found_errors=found)):
                return 0
            conf = f" ({rec.teacher_confidence:.2f})" if rec.teacher_confidence is not None else ""
            reason = f"audit: confident answer{conf}"
            if found:  # where people caught the teacher confidently wrong, audits come first
                rank = -1
                reason += f"; people corrected {found} of this label's latest confident answers"
            return self._add(con, rec.task, rec.event_id, "audit", reason, rec.input,
                             shown, rec.label, rec.teacher_confidence, rec.teacher_model, rec.student_output,
                             rec.ts_ms, rank)
        if isinstance(rec, ReviewDecision):
            self._record_decision(con, rec)
            return 0
        if isinstance(rec, DeadLetter):
            self._refused(con, rec)
            return 0
        if isinstance(rec, DriftEvent):
            at = rec.event_ts_ms or rec.detected_at_ms
            con.execute("INSERT INTO drift VALUES (?, ?) ON CONFLICT (task) DO UPDATE SET at_ms = max(at_ms, ?)",
                        [rec.task, at, at])
            self._retier(con, rec.task)
            self._arm_gold(con, rec.task, at, f"gold candidate: fresh input after a {rec.signal} drift alarm")
            return 0
        if isinstance(rec, AdapterPublished | AdapterRejected) and rec.metrics is not None:
            worst = worst_categories(rec.metrics.candidate)
            con.execute("INSERT OR REPLACE INTO worst VALUES (?, ?)", [rec.task, json.dumps(worst)])
            self._retier(con, rec.task)
        return 0

    @staticmethod
    def _found_errors(con: sqlite3.Connection, task: str, category: str, window: int) -> int:
        """Corrections of confident teacher answers (audits, gold candidates) among ``category``'s last ``window``."""
        row = con.execute(
            "SELECT count(*) FROM (SELECT answer, teacher_output FROM decisions WHERE task = ? AND category = ? "
            "AND origin IN ('audit', 'gold') AND decision IN ('accept', 'correct', 'promote_gold') "
            "ORDER BY decided_ms DESC LIMIT ?) WHERE answer IS NOT NULL AND answer != coalesce(teacher_output, '') "
            "AND answer != ?", [task, category, window, category]).fetchone()
        return int(row[0])

    def _arm_gold(self, con: sqlite3.Connection, task: str, at_ms: int, reason: str) -> None:
        """Open a gold window: the next fresh answers, ``gold_per_category`` per category, become candidates."""
        con.execute("INSERT OR REPLACE INTO gold_window VALUES (?, ?, ?)", [task, at_ms, reason])
        con.execute("DELETE FROM gold_quota WHERE task = ?", [task])

    def _gold_candidate(self, con: sqlite3.Connection, task: str, category: str, ts_ms: int) -> str | None:
        """The reason a fresh answer becomes a gold candidate, or ``None`` (no window, or its quota is full)."""
        spec = self.settings.task(task).review
        if spec.gold_per_category <= 0:
            return None
        window = con.execute("SELECT armed_ms, reason FROM gold_window WHERE task = ?", [task]).fetchone()
        if spec.gold_refresh_hours > 0 and (window is None or ts_ms - window[0] >= spec.gold_refresh_hours * 3.6e6):
            self._arm_gold(con, task, ts_ms, "gold candidate: scheduled refresh of the gold set")
            window = (ts_ms, "gold candidate: scheduled refresh of the gold set")
        if window is None or ts_ms < window[0]:
            return None
        taken = con.execute("SELECT n FROM gold_quota WHERE task = ? AND category = ?", [task, category]).fetchone()
        if taken is not None and taken[0] >= spec.gold_per_category:
            return None
        con.execute("INSERT INTO gold_quota VALUES (?, ?, 1) ON CONFLICT (task, category) DO UPDATE SET n = n + 1",
                    [task, category])
        return str(window[1])

    def _refused(self, con: sqlite3.Connection, letter: DeadLetter) -> None:
        """The task's owner refused a decision: forget it and reopen its item, saying why."""
        if letter.stage != "review" or letter.original_truncated:
            return
        try:
            decision = ReviewDecision.model_validate_json(letter.original())
        except ValueError:
            return  # not a decision at all: nothing of ours to reopen
        con.execute("DELETE FROM decisions WHERE decision_id = ?", [decision.decision_id])
        why = "; ".join(letter.problems)[:500] or letter.reason
        con.execute("UPDATE items SET state = 'open', decision = NULL, decided_by = NULL, decided_ms = NULL, "
                    "reason = ? WHERE task = ? AND item_id = ? AND decided_ms = ?",
                    [f"decision refused by the streams worker ({why}); decide again", decision.task,
                     decision.item_id, decision.decided_at_ms])

    def _category(self, task: str, answer: str | dict[str, Any] | None) -> str | None:
        spec = self.settings.task(task)
        if spec.kind != "classification" or not isinstance(answer, str):
            return None
        return label_set(tuple(spec.labels)).match(answer)

    def _context(self, con: sqlite3.Connection, task: str) -> tuple[set[str], int | None]:
        row = con.execute("SELECT categories FROM worst WHERE task = ?", [task]).fetchone()
        drift = con.execute("SELECT at_ms FROM drift WHERE task = ?", [task]).fetchone()
        return (set(json.loads(row[0])) if row else set()), (drift[0] if drift else None)

    def _add(self, con: sqlite3.Connection, task: str, item_id: str, origin: str, reason: str, text: str,
             category: str | None, teacher_output: str | dict[str, Any] | None, confidence: float | None,
             model: str | None, student: str | dict[str, Any] | None, ts_ms: int, rank: int = 0) -> int:
        worst, drift_ms = self._context(con, task)
        t = tier(origin=origin, reason=reason, category=category, ts_ms=ts_ms, worst=worst, drift_ms=drift_ms)
        cur = con.execute(
            "INSERT OR IGNORE INTO items (task, item_id, origin, reason, input, category, teacher_output, "
            "teacher_confidence, teacher_model, student_output, ts_ms, tier, rank) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [task, item_id, origin, reason, text, category, encode(teacher_output), confidence, model,
             encode(student), ts_ms, t, rank])
        decided = con.execute("SELECT decision, reviewer, decided_ms FROM decisions WHERE task = ? AND item_id = ? "
                              "ORDER BY decided_ms DESC LIMIT 1", [task, item_id]).fetchone()
        if decided:  # decided before the item reached us (another tool, or a replay)
            con.execute("UPDATE items SET state = 'decided', decision = ?, decided_by = ?, decided_ms = ? "
                        "WHERE task = ? AND item_id = ?", [*decided, task, item_id])
        return cur.rowcount

    def _retier(self, con: sqlite3.Connection, task: str) -> None:
        worst, drift_ms = self._context(con, task)
        rows = con.execute("SELECT item_id, origin, reason, category, ts_ms FROM items WHERE task = ? AND "
                           "state = 'open'", [task]).fetchall()
        con.executemany("UPDATE items SET tier = ? WHERE task = ? AND item_id = ?", [
            [tier(origin=o, reason=r, category=c, ts_ms=ts, worst=worst, drift_ms=drift_ms), task, i]
            for i, o, r, c, ts in rows])

    def _record_decision(self, con: sqlite3.Connection, d: ReviewDecision) -> None:
        con.execute("INSERT OR IGNORE INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [d.decision_id, d.task, d.item_id, d.decision, encode(d.answer), encode(d.teacher_output),
                     d.category, d.origin, d.reviewer, d.tool, d.decided_at_ms])
        con.execute("UPDATE items SET state = 'decided', decision = ?, decided_by = ?, decided_ms = ?, "
                    "lease_owner = NULL, lease_until_ms = 0 WHERE task = ? AND item_id = ?",
                    [d.decision, d.reviewer, d.decided_at_ms, d.task, d.item_id])
        if d.origin in ("audit", "gold") and d.category and _disagrees(encode(d.answer), encode(d.teacher_output),
                                                                       d.category):
            # a confident mistake: its label's open audits first
            con.execute("UPDATE items SET rank = -1 WHERE task = ? AND category = ? AND origin = 'audit' "
                        "AND state = 'open'", [d.task, d.category])

    # --------------------------------------------------------------- leases
    def next(self, reviewer: str, *, task: str | None = None, now_ms: int | None = None) -> QueueItem | None:
        """Lease the best open item to ``reviewer`` (theirs already, if they hold one); ``None`` when none is left."""
        now = _now() if now_ms is None else now_ms
        where, args = ("AND task = ?", [task]) if task else ("", [])
        with self._tx() as con:
            row = con.execute(f"SELECT {', '.join(_ITEM_COLS)} FROM items WHERE state = 'open' AND lease_owner = ? "
                              f"AND lease_until_ms > ? {where} ORDER BY tier, rank, ts_ms, item_id LIMIT 1",
                              [reviewer, now, *args]).fetchone()
            if row is None:
                row = con.execute(f"SELECT {', '.join(_ITEM_COLS)} FROM items WHERE state = 'open' AND "
                                  f"lease_until_ms <= ? {where} ORDER BY tier, rank, ts_ms, item_id LIMIT 1",
                                  [now, *args]).fetchone()
            if row is None:
                return None
            item = QueueItem(*row)
            until = now + int(self.settings.task(item.task).review.lease_seconds * 1000)
            con.execute("UPDATE items SET lease_owner = ?, lease_until_ms = ? WHERE task = ? AND item_id = ?",
                        [reviewer, until, item.task, item.item_id])
        return QueueItem(**{**item.as_json(), "lease_owner": reviewer, "lease_until_ms": until})

    def item(self, task: str, item_id: str) -> QueueItem | None:
        with self._tx() as con:
            row = con.execute(f"SELECT {', '.join(_ITEM_COLS)} FROM items WHERE task = ? AND item_id = ?",
                              [task, item_id]).fetchone()
        return QueueItem(*row) if row else None

    def open_items(self, *, task: str | None = None, limit: int = 1000) -> list[QueueItem]:
        """Open items in review order (leases ignored): what an export hands to another tool."""
        where, args = ("AND task = ?", [task]) if task else ("", [])
        with self._tx() as con:
            rows = con.execute(f"SELECT {', '.join(_ITEM_COLS)} FROM items WHERE state = 'open' {where} "
                               "ORDER BY tier, rank, ts_ms, item_id LIMIT ?", [*args, limit]).fetchall()
        return [QueueItem(*r) for r in rows]

    def find(self, item_id: str) -> list[QueueItem]:
        """Every task's item with this id (ids are unique per task)."""
        with self._tx() as con:
            rows = con.execute(f"SELECT {', '.join(_ITEM_COLS)} FROM items WHERE item_id = ?", [item_id]).fetchall()
        return [QueueItem(*r) for r in rows]

    def release(self, task: str, item_id: str, reviewer: str) -> None:
        """Give a leased item back before its lease runs out."""
        with self._tx() as con:
            con.execute("UPDATE items SET lease_owner = NULL, lease_until_ms = 0 WHERE task = ? AND item_id = ? "
                        "AND lease_owner = ?", [task, item_id, reviewer])

    # ------------------------------------------------------------ decisions
    def decide(self, task: str, item_id: str, reviewer: str, decision: ReviewVerdict, answer: Any = None, *,
               tool: str, now_ms: int | None = None) -> ReviewDecision:
        """The decision record for an item, checked as the streams worker will check it.

        A gold candidate (origin ``gold``) accepted or corrected is promoted to the
        gold set with that answer: reviewing it is what it was drawn for.

        Raises :class:`ReviewError` for an unknown task or item, an item already
        decided or leased to someone else, or an answer the task refuses. The
        caller produces the record to ``distill.reviewed``, then calls :meth:`mark`.
        """
        now = _now() if now_ms is None else now_ms
        if task not in self.settings.tasks:
            known = ", ".join(sorted(self.settings.tasks)) or "none"
            raise ReviewError(f"task: unknown task {task!r}; declared tasks: {known}")
        spec = self.settings.task(task)
        item = self.item(task, item_id)
        if item is None:
            raise ReviewError(f"item_id: {item_id!r} is not in the review queue of task {task!r}; "
                              "take the id `distillery review next` (or the page) showed")
        if item.state != "open":
            raise ReviewError(f"item_id: {item_id!r} was already decided ({item.decision} by {item.decided_by})")
        if item.lease_owner not in (None, reviewer) and item.lease_until_ms > now:
            raise ReviewError(f"item_id: {item_id!r} is leased to {item.lease_owner!r} for another "
                              f"{(item.lease_until_ms - now) // 1000} s; take another item with `next`")
        if item.origin == "gold" and decision in ("accept", "correct"):
            decision = "promote_gold"  # a reviewed gold candidate joins the gold set, with the answer given
        canonical: Any = None
        if decision == "correct" or (decision == "promote_gold" and answer not in (None, "")):
            canonical = check_answer(spec, _parsed(spec.kind, answer))
        elif decision in ("accept", "promote_gold"):
            try:
                check_answer(spec, _parsed(spec.kind, item.teacher_output))
            except ReviewError as exc:
                raise ReviewError(f"decision: {decision!r} keeps the teacher's answer, which is not valid ({exc}); "
                                  "correct it instead") from None
        return ReviewDecision(task=task, item_id=item_id, decision=decision, answer=canonical, reviewer=reviewer,
                              teacher_output=item.teacher_output, category=item.category, origin=item.origin,
                              tool=tool, decided_at_ms=now)

    def mark(self, decision: ReviewDecision) -> None:
        """Close the item of a decision that is on Kafka (idempotent)."""
        with self._tx() as con:
            self._record_decision(con, decision)

    # ---------------------------------------------------------------- stats
    def stats(self, *, task: str | None = None, now_ms: int | None = None) -> dict[str, Any]:
        """Backlog, leases, throughput and the human-vs-teacher disagreement per category, per task."""
        now = _now() if now_ms is None else now_ms
        out: dict[str, Any] = {}
        with self._tx() as con:
            tasks = [task] if task else sorted(self.settings.tasks)
            for name in tasks:
                open_by = dict(con.execute("SELECT origin, count(*) FROM items WHERE task = ? AND state = 'open' "
                                           "GROUP BY origin", [name]).fetchall())
                leased = con.execute("SELECT count(*) FROM items WHERE task = ? AND state = 'open' AND "
                                     "lease_until_ms > ?", [name, now]).fetchone()[0]
                by_decision = dict(con.execute("SELECT decision, count(*) FROM decisions WHERE task = ? "
                                               "GROUP BY decision", [name]).fetchall())
                recent = con.execute("SELECT count(*) FROM decisions WHERE task = ? AND decided_ms > ?",
                                     [name, now - RATE_WINDOW_MS]).fetchone()[0]
                per_cat: dict[str, dict[str, Any]] = {}
                for cat, ans, teacher in con.execute(
                        "SELECT coalesce(category, '_'), answer, teacher_output FROM decisions "
                        "WHERE task = ? AND decision IN ('accept', 'correct', 'promote_gold')", [name]):
                    c = per_cat.setdefault(cat, {"reviewed": 0, "disagreed": 0, "people_said": {}})
                    c["reviewed"] += 1
                    wrong = _disagrees(ans, teacher, cat)  # cat: the teacher's label
                    c["disagreed"] += int(wrong)
                    if wrong:  # what people answered instead: where the teacher's mistakes go
                        c["people_said"][ans] = c["people_said"].get(ans, 0) + 1
                for c in per_cat.values():
                    c["teacher_error_rate"] = round(c["disagreed"] / c["reviewed"], 4)
                    c["people_said"] = dict(sorted(c["people_said"].items(), key=lambda kv: (-kv[1], kv[0])))
                backlog = sum(open_by.values())
                rate = recent / (RATE_WINDOW_MS / 60_000)
                out[name] = {
                    "open": backlog, "open_by_origin": open_by, "leased": leased,
                    "decided": sum(by_decision.values()), "by_decision": by_decision,
                    "per_minute": round(rate, 3),
                    "eta_minutes": round(backlog / rate, 1) if rate else None,
                    "disagreement": dict(sorted(per_cat.items())),
                    "cost_usd": round(sum(by_decision.get(k, 0) for k in ("accept", "correct", "promote_gold"))
                                      * self.settings.task(name).review.cost_per_item_usd, 2),
                }
        return out


def _disagrees(answer: str | None, teacher: str | None, category: str | None) -> bool:
    """A person's answer (stored text) that is neither the teacher's answer nor its label: the teacher was wrong.

    The same rule, in SQL, picks the corrections :meth:`ReviewQueue._found_errors` counts.
    """
    return answer is not None and answer not in (teacher, category)


def _parsed(kind: str, answer: Any) -> Any:
    """An extraction answer typed as text is parsed JSON, so the schema check sees the object."""
    return decode(answer) if kind == "extraction" and isinstance(answer, str) else answer
