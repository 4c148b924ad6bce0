"""How the adapter commands show things to people: one line per swap, one table per task (pure).

>>> note = SwapNote("switched", "transactions", "ad-2", previous="ad-1", reason="rollback", seconds=0.4,
...                 target="in-process")
>>> format_note(note, when=0).plain[8:]
'  ROLLED BACK   transactions  ad-1 → ad-2  (in-process, 0.40s)'
"""

from __future__ import annotations

import time
from datetime import datetime

from rich.table import Table
from rich.text import Text

from distillery.adapter_book import AdapterBook
from distillery.events import AdapterPublished, AdapterRejected, ModelScores
from serving.adapters.subscriber import SwapNote

_SWITCH_LABEL = {"rollback": ("ROLLED BACK", "bold yellow"), "pin": ("PINNED", "bold cyan"),
                 "unpin": ("UNPINNED", "bold cyan")}
_STYLE = {"verified": "green", "refused": "bold white on red", "unavailable": "bold red", "failed": "bold red",
          "control": "cyan", "ready": "bold green", "first_answer": "bold green"}


def format_note(note: SwapNote, when: float | None = None) -> Text:
    """One subscriber action as one line: time, what happened, task, adapter(s) and detail."""
    stamp = datetime.fromtimestamp(time.time() if when is None else when).strftime("%H:%M:%S")
    if note.kind == "switched":
        label, style = _SWITCH_LABEL.get(note.reason, ("SWITCHED", "bold green"))
    else:
        label, style = note.kind.upper().replace("_", " "), _STYLE.get(note.kind, "bold")
    line = Text(stamp, style="dim")
    line.append(f"  {label:<12}", style=style)
    if note.kind != "ready":
        line.append(f"  {note.task}", style="bold")
    if note.kind == "switched":
        line.append(f"  {note.previous or '(base model)'} → {note.adapter_id}")
        line.append(f"  ({note.target}, {note.seconds:.2f}s)", style="dim")
    elif note.adapter_id:
        line.append(f"  {note.adapter_id}")
    if note.kind == "verified":
        line.append(f"  fetched and SHA-256 checked in {note.seconds:.2f}s", style="dim")
    elif note.detail:
        line.append(f"  {note.detail}", style="dim" if note.kind in ("control", "ready") else "")
    return line


def _acc(scores: ModelScores | None) -> str:
    return "-" if scores is None else f"{scores.accuracy:.3f}"


def _worst(scores: ModelScores | None) -> str:
    if scores is None or scores.worst_category is None:
        return "-"
    return f"{scores.worst_category} {scores.per_category.get(scores.worst_category, 0.0):.3f}"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def adapters_table(book: AdapterBook, task: str) -> Table:
    """Every adapter published or rejected for ``task``, newest first, with its gold-set scores and status."""
    st = book.state(task)
    chosen = book.chosen(task)
    previous = book.previous(task)
    table = Table(title=f"task {task}", title_justify="left", show_lines=False)
    for col in ("adapter / job", "status", "at", "gold acc", "teacher", "base", "worst category", "threshold",
                "note"):
        # fold, never cut: an adapter id is only useful whole
        table.add_column(col, justify="right" if col in ("gold acc", "teacher", "base", "threshold") else "left",
                         overflow="fold")
    rows: list[tuple[int, AdapterPublished | AdapterRejected]] = [
        (book.published[i].created_at_ms, book.published[i]) for i in st.history + st.rolled_back]
    rows += [(r.created_at_ms, r) for r in st.rejected]
    for _, item in sorted(rows, key=lambda r: -r[0]):
        if isinstance(item, AdapterPublished):
            m = item.metrics
            status, style = _status(item.adapter_id, chosen, previous, st.pinned, st.rolled_back)
            threshold = ("none" if item.router_threshold is None else f"{item.router_threshold:.3f}" + (
                f" ({item.router_coverage:.0%})" if item.router_coverage is not None else ""))
            trained = (f"{item.training.train_examples} examples, {item.training.steps} steps"
                       if item.training else "")
            table.add_row(item.adapter_id, Text(status, style=style), _when(item.created_at_ms), _acc(m.candidate),
                          _acc(m.teacher), _acc(m.base), _worst(m.candidate), threshold, trained)
        else:
            why = ", ".join(item.failed_rules) or item.reason
            r = item.metrics
            table.add_row(item.job_id, Text("rejected", style="red"), _when(item.created_at_ms),
                          _acc(r.candidate if r else None), _acc(r.teacher if r else None),
                          _acc(r.base if r else None), _worst(r.candidate if r else None), "-", why)
    return table


def _status(adapter_id: str, chosen: AdapterPublished | None, previous: AdapterPublished | None,
            pinned: str | None, rolled_back: list[str]) -> tuple[str, str]:
    if chosen is not None and adapter_id == chosen.adapter_id:
        return ("serving (pinned)" if pinned == adapter_id else "serving"), "bold green"
    if adapter_id in rolled_back:
        return "rolled back", "yellow"
    if previous is not None and adapter_id == previous.adapter_id:
        return "previous", ""
    return "published", "dim"
