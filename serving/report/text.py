"""Sentences both renderers print: where the student share and accuracy come from, and the gate's figures."""

from __future__ import annotations

from serving.report.fmt import pct
from serving.report.model import TaskReport


def share_line(r: TaskReport) -> str:
    """The student share and its accuracy on what it answers, each with where it comes from."""
    s, a = r.share, r.answered
    threshold = f"{s.router_threshold:.3f}" if s.router_threshold is not None else "none published"
    share = (f"student share {pct(s.value)} {s.basis}" if s.value is not None
             else f"student share: none ({s.basis}), so no break-even")
    accuracy = (f"student accuracy on what it answers {pct(a.value)} {a.basis}" if a.value is not None
                else f"student accuracy on what it answers: unknown ({a.basis})")
    return (f"{share}; router threshold {threshold}" + (f" of {s.adapter_id}" if s.adapter_id else "")
            + f"\n{accuracy}")


def gold_line(r: TaskReport) -> str:
    """The gate's figures: the student alone beside the routed system's coverage and accuracy."""
    ev = r.evidence
    line = f"gold: {ev.store_gold} in the store; candidate ({ev.source}) scored on {ev.gold_size}"
    if ev.candidate_accuracy is not None:
        line += f": student alone {pct(ev.candidate_accuracy)}, teacher {pct(ev.teacher_accuracy)}"
    if ev.routed is not None:
        g = ev.routed
        line += (f"; routed {pct(g.accuracy)} at {pct(g.coverage)} student coverage (student on its share "
                 f"{pct(g.student_accuracy)}; {g.method}, {g.n} rows)")
    elif ev.candidate_accuracy is not None:
        line += "; no routed figures in this adapter event"
    return line
