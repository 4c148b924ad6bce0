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
    age = r.gold_age
    if age.rows and age.median_age_days is not None and age.oldest_age_days is not None:
        line += f"; gold age median {age.median_age_days:.1f} d, oldest {age.oldest_age_days:.1f} d"
        if age.share_before_drift is not None:
            line += f", {pct(age.share_before_drift)} of it predates the last drift alarm"
    return line


def review_cost_line(r: TaskReport) -> str:
    """The break-even's human review row: measured items times the configured price per item."""
    v = r.review
    return f"human review ({v.reviewed} items x ${v.cost_per_item_usd:.2f})"


def review_line(r: TaskReport) -> str:
    """People in the loop: throughput, backlog, and the teacher's error rate where people disagreed most."""
    v = r.review
    if not v.decisions:
        backlog = "unknown here" if v.backlog is None else str(v.backlog)
        return f"review: no decisions yet; backlog {backlog}"
    pace = f"{v.per_hour:.1f}/h overall" if v.per_hour is not None else "one decision"
    backlog = "unknown here (no queue on this host)" if v.backlog is None else f"{v.backlog} open"
    line = f"review: {v.decisions} decisions ({v.reviewed} labeled), {pace}, {v.last_hour} in the last hour; backlog {backlog}"
    worst = [c for c in v.categories if c.disagreed][:3]
    if worst:
        line += "; teacher error rate as people found it: " + ", ".join(
            f"{c.category} {pct(c.teacher_error_rate)} of {c.reviewed}" for c in worst)
    return line
