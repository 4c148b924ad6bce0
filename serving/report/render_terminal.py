"""The report as rich tables in a terminal: the verdict first, then the numbers behind it."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from serving.report.fmt import count, months, pct, usd
from serving.report.model import CategoryRow, TaskReport
from serving.report.text import gold_line, review_cost_line, review_line, share_line

VERDICT_STYLE = {"specialise": "bold green", "route_only": "bold yellow"}
RESULT = {True: Text("pass", style="green"), False: Text("FAIL", style="bold red"), None: Text("n/a", style="dim")}


def _per_request(r: TaskReport) -> Table:
    t = Table(title="Per request", title_justify="left", expand=False)
    for col in ("path", "prompt tok", "answer tok", "cost", "tokens from"):
        t.add_column(col, justify="right" if "tok" in col or col == "cost" else "left")
    for p in (r.teacher, r.student):
        t.add_row(p.path, f"{p.prompt_tokens:,.1f}", f"{p.completion_tokens:,.1f}", usd(p.request_usd), p.source)
    return t


def _money(r: TaskReport) -> Table:
    e = r.economics
    t = Table(title="Money", title_justify="left", show_header=False)
    t.add_column("item")
    t.add_column("usd", justify="right")
    t.add_row(f"teacher labeling ({count(r.labeling_calls)} calls)", usd(r.one_time_usd["labeling"]))
    t.add_row(f"training ({r.training.runs} runs, {r.training.hours:.2f} GPU h)", usd(r.one_time_usd["training"]))
    t.add_row("eval build", usd(r.one_time_usd["eval_build"]))
    t.add_row("data curation", usd(r.one_time_usd["data_curation"]))
    t.add_row(review_cost_line(r), usd(r.one_time_usd["human_review"]))
    if e is None:
        t.add_row(Text("one-time total", style="bold"),
                  Text(usd(sum(r.one_time_usd.values())), style="bold"), end_section=True)
        t.add_row(Text("break-even", style="bold"),
                  Text("none: no student share to compute a break-even from", style="bold"))
        return t
    t.add_row(Text("one-time total", style="bold"), Text(usd(e.one_time_usd), style="bold"), end_section=True)
    t.add_row(f"teacher only, {count(r.monthly_volume)} req/mo", usd(e.teacher_only_monthly_usd) + "/mo")
    t.add_row("gross savings (student on every request)", usd(e.gross_monthly_usd) + "/mo")
    t.add_row(f"escalated to the teacher ({pct(1 - (r.share.value or 0.0))})", "-" + usd(e.escalation_monthly_usd) + "/mo")
    t.add_row("ops", "-" + usd(r.monthly_fixed_usd["ops"]) + "/mo")
    t.add_row("serving, fixed", "-" + usd(r.monthly_fixed_usd["serving_fixed"]) + "/mo")
    t.add_row(Text("net savings", style="bold"), Text(usd(e.net_monthly_usd) + "/mo", style="bold"),
              end_section=True)
    t.add_row(Text("break-even", style="bold"), Text(months(e.months), style="bold"))
    return t


def _decision(r: TaskReport) -> Table:
    t = Table(title="Decision", title_justify="left")
    for col in ("condition", "measured", "threshold", "result"):
        t.add_column(col)
    for row in r.decision.rows:
        t.add_row(row.name, row.measured, row.threshold, RESULT[row.passed])
    return t


def _mark(c: CategoryRow) -> str:
    return ", ".join(m for m, on in (("worst", c.worst), ("teacher blind spot", c.blind_spot)) if on)


def _categories(r: TaskReport) -> Table | Text:
    if not r.categories:
        return Text("per category: no per-category gold scores in the adapter events", style="dim")
    title = "Per category on gold"
    if r.worst_category is not None:
        title += f" (worst: {r.worst_category}, {r.worst_basis})"
    t = Table(title=title, title_justify="left")
    for col in ("category", "gold rows", "student alone", "teacher", "routed", "student coverage", "note"):
        t.add_column(col, justify="left" if col in ("category", "note") else "right")
    for c in r.categories:
        style = "bold red" if c.blind_spot else "yellow" if c.worst else None
        t.add_row(c.category, "?" if c.support is None else count(c.support), pct(c.student), pct(c.teacher),
                  pct(c.routed), pct(c.coverage), _mark(c), style=style)
    return t


def _facts(r: TaskReport) -> Text:
    d = r.drift
    lines = [
        share_line(r),
        f"drift: {d.alarms} alarms in {d.episodes} episodes over {count(d.events_seen)} events"
        + (f" ({', '.join(f'{k} {v}' for k, v in sorted(d.by_signal.items()))})" if d.by_signal else ""),
        gold_line(r),
        review_line(r),
    ]
    if r.agreement:
        last = r.agreement[-1]
        lines.append(f"agreement: {pct(last.rate)} in the latest window ({last.n} examples), "
                     f"{len(r.agreement)} windows")
    if r.counters:
        lines.append("stream: " + ", ".join(f"{k} {v:,.4g}" for k, v in sorted(r.counters.items())))
    text = Text("\n".join(lines))
    for note in r.notes:
        text.append("\nnote: " + note, style="yellow")
    return text


def render(report: TaskReport, console: Console) -> None:
    """Print one task's report."""
    style = VERDICT_STYLE.get(report.decision.verdict, "bold red")
    body = Group(_per_request(report), _money(report), _decision(report), _categories(report), _facts(report))
    console.print(Panel(body, title=Text(f"{report.task}: {report.decision.headline}", style=style),
                        title_align="left"))
