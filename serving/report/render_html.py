"""The report as one self-contained HTML page: inline CSS and SVG charts, no scripts, no links out.

Per task: the verdict, the key figures, the break-even chart (cumulative cost of
the distilled setup against cumulative savings, the crossing marked), the
teacher-student agreement per window, and the tables behind them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from serving.report.fmt import count, months, pct, usd
from serving.report.model import TaskReport
from serving.report.svg import HLine, Marker, Series, line_chart
from serving.report.text import gold_line, review_cost_line, review_line, share_line

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1080px;color:#1d2733;padding:0 1rem}
h1{font-size:1.5rem}h2{margin-top:2.5rem;border-bottom:1px solid #d8dee6;padding-bottom:.3rem}
.verdict{padding:.7rem 1rem;border-radius:6px;font-weight:600;font-size:1.05rem}
.v-specialise{background:#e3f6e8;color:#14632f}.v-route_only{background:#fff4d6;color:#7a5200}
.v-low_volume,.v-treadmill,.v-below_teacher,.v-no_eval{background:#fde4e4;color:#8a1c1c}
.figures{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.figure{border:1px solid #d8dee6;border-radius:6px;padding:.5rem .9rem;min-width:10rem}
.figure b{display:block;font-size:1.25rem}.figure span{color:#5b6775;font-size:.85rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.9rem}
th,td{border-bottom:1px solid #e6eaef;padding:.3rem .7rem;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#14632f;font-weight:600}.fail{color:#a11;font-weight:700}.na{color:#8793a0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:1rem}
figure{margin:0}svg.chart{width:100%;height:auto;background:#fbfcfd;border:1px solid #e6eaef;border-radius:6px}
svg .grid{stroke:#e6eaef}svg .axis{stroke:#7d8894}svg .ref{stroke:#7d8894;stroke-dasharray:5 4}
svg text{font:11px system-ui,sans-serif;fill:#4a5562}svg .chart-title{font-size:13px;font-weight:600;fill:#1d2733}
svg .marker{fill:none;stroke:#1d2733;stroke-width:2}svg .marker-label{font-weight:600;fill:#1d2733}
tr.blind td{background:#fde4e4}tr.worst td:first-child{font-weight:700}
.notes{color:#7a5200}.empty{color:#8793a0;font-style:italic}
"""

COST, SAVINGS, AGREEMENT = "#c0392b", "#1e8449", "#2e6fb7"
RESULT = {True: "pass", False: "FAIL", None: "n/a"}


def _money_axis(v: float) -> str:
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"${v / div:g}{suffix}"
    return f"${v:g}"


def break_even_chart(r: TaskReport) -> str:
    """Cumulative cost against cumulative savings by month, the break-even marked where it falls."""
    e = r.economics
    if e is None:
        return '<p class="empty">No student share measured, calibrated or given: no break-even to chart.</p>'
    cost = [(float(p.month), p.cost_usd) for p in r.curve]
    savings = [(float(p.month), p.savings_usd) for p in r.curve]
    markers = []
    if not math.isinf(e.months) and r.curve and e.months <= r.curve[-1].month:
        markers.append(Marker(e.months, e.one_time_usd + e.months * e.running_monthly_usd,
                              f"break-even: {months(e.months)}"))
    last = r.curve[-1].month if r.curve else 0
    step = max(1, math.ceil(last / 6))
    return line_chart([Series("cumulative cost", cost, COST), Series("cumulative savings", savings, SAVINGS)],
                      title="Cost and savings by month", x_label="months from now", y_label="USD",
                      y_fmt=_money_axis, markers=markers, x_ticks=[float(m) for m in range(0, last + 1, step)])


def _clock(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%m-%d %H:%M")


def agreement_chart(r: TaskReport) -> str:
    """Teacher-student agreement per 15-minute window of labeled examples."""
    if not r.agreement:
        return '<p class="empty">No labeled example carries a student answer yet: no agreement to chart.</p>'
    pts = [(float(w.start_ms), w.rate) for w in r.agreement]
    return line_chart([Series("teacher-student agreement", pts, AGREEMENT)],
                      title="Agreement per window", x_label="window start (UTC)", y_label="agreement",
                      x_fmt=_clock, y_fmt=lambda v: f"{100 * v:.0f}%", y_min=0.0, y_max=1.0,
                      hlines=[HLine(r.target_accuracy, f"target {pct(r.target_accuracy)}")])


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], num: Sequence[int] = ()) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _figures(r: TaskReport) -> str:
    e, s, a, g = r.economics, r.share, r.answered, r.evidence.routed
    items = [(months(e.months) if e else "none", "to break even"),
             (usd(e.net_monthly_usd) if e else "n/a", "net savings per month"),
             (usd(sum(r.one_time_usd.values())), "one-time spend"),
             (pct(s.value), f"student share, {s.basis}"),
             (pct(a.value), f"student accuracy on what it answers, {a.basis}"),
             (pct(r.evidence.candidate_accuracy), "student alone on gold")]
    if g is not None:
        items += [(pct(g.coverage), f"gate coverage ({g.method}, {g.n} gold rows)"),
                  (pct(g.accuracy), "routed system on gold")]
    items.append((count(r.monthly_volume), "requests per month"))
    return '<div class="figures">' + "".join(
        f'<div class="figure"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for v, k in items) + "</div>"


def category_table(r: TaskReport) -> str:
    """Student alone, teacher and routed system per category; teacher blind spots and the worst marked."""
    if not r.categories:
        return '<p class="empty">No per-category gold scores in the adapter events.</p>'
    head = ["category", "gold rows", "student alone", "teacher", "routed", "student coverage", "note"]
    body = []
    for c in r.categories:
        marks = [m for m, on in (("worst", c.worst), ("teacher blind spot", c.blind_spot)) if on]
        cls = " ".join(k for k, on in (("blind", c.blind_spot), ("worst", c.worst)) if on)
        cells = [escape(c.category), "?" if c.support is None else count(c.support), pct(c.student), pct(c.teacher),
                 pct(c.routed), pct(c.coverage), escape(", ".join(marks))]
        body.append(f'<tr class="{cls}">' if cls else "<tr>")
        body[-1] += "".join(f'<td class="num">{v}</td>' if 0 < i < 6 else f"<td>{v}</td>" for i, v in enumerate(cells))
        body[-1] += "</tr>"
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    worst = (f"<p>Worst category: <b>{escape(r.worst_category)}</b> ({escape(r.worst_basis or '')}). "
             if r.worst_category else "<p>")
    rule = (f"A teacher blind spot is a category where the teacher scores below {pct(r.blind_spot_accuracy)} on "
            "gold with enough gold rows: the student learns the teacher's mistakes there.</p>")
    return (f'<table data-table="categories"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            f"{worst}{rule}")


def _money_table(r: TaskReport) -> str:
    e = r.economics
    one_time = [
        [f"teacher labeling ({count(r.labeling_calls)} calls)", usd(r.one_time_usd["labeling"])],
        [f"training ({r.training.runs} runs, {r.training.hours:.2f} GPU h)", usd(r.one_time_usd["training"])],
        ["eval build", usd(r.one_time_usd["eval_build"])],
        ["data curation", usd(r.one_time_usd["data_curation"])],
        [escape(review_cost_line(r)), usd(r.one_time_usd["human_review"])],
        ["<b>one-time total</b>", f"<b>{usd(sum(r.one_time_usd.values()))}</b>"],
    ]
    if e is None or r.volume_needed is None:
        return _table(["item", "USD"], [*one_time, ["<b>break-even</b>",
                                                    "none: no student share to compute a break-even from"]],
                      num=(1,))
    share = r.share.value if r.share.value is not None else 0.0
    return _table(["item", "USD"], [
        *one_time,
        ["teacher only, per month", usd(e.teacher_only_monthly_usd)],
        ["gross savings per month", usd(e.gross_monthly_usd)],
        [f"escalated to the teacher ({pct(1 - share)}) per month", usd(-e.escalation_monthly_usd)],
        ["ops and fixed serving per month", usd(-sum(r.monthly_fixed_usd.values()))],
        ["<b>net savings per month</b>", f"<b>{usd(e.net_monthly_usd)}</b>"],
        [f"volume to break even within {r.horizon_months:g} months", count(r.volume_needed) + " req/mo"],
    ], num=(1,))


def task_section(r: TaskReport) -> str:
    """One task's section of the page."""
    cls = {True: "pass", False: "fail", None: "na"}
    per_request = _table(["path", "prompt tokens", "answer tokens", "cost / request", "tokens from"],
                         [[p.path, f"{p.prompt_tokens:,.1f}", f"{p.completion_tokens:,.1f}", usd(p.request_usd),
                           escape(p.source)] for p in (r.teacher, r.student)], num=(1, 2, 3))
    money = _money_table(r)
    decision = _table(["condition", "measured", "threshold", "result"], [
        [escape(row.name), escape(row.measured), escape(row.threshold),
         f'<span class="{cls[row.passed]}">{RESULT[row.passed]}</span>']
        for row in r.decision.rows])
    facts = (f"<p>{escape(share_line(r)).replace(chr(10), '<br>')}; {count(r.share.routed_events)} routed "
             f"events.<br>Drift: {r.drift.alarms} alarms in {r.drift.episodes} episodes over "
             f"{count(r.drift.events_seen)} events.<br>{escape(gold_line(r))}.<br>{escape(review_line(r))}.</p>")
    notes = "".join(f'<p class="notes">{escape(n)}</p>' for n in r.notes)
    return (f'<section id="task-{escape(r.task)}"><h2>{escape(r.task)}</h2>'
            f'<div class="verdict v-{r.decision.verdict}">{escape(r.decision.headline)}</div>{_figures(r)}'
            f'<div class="charts"><figure data-chart="break-even">{break_even_chart(r)}</figure>'
            f'<figure data-chart="agreement">{agreement_chart(r)}</figure></div>'
            f"<h3>Decision</h3>{decision}<h3>Per category on gold</h3>{category_table(r)}<h3>Per request</h3>{per_request}<h3>Money</h3>{money}{facts}{notes}"
            "</section>")


def render_page(reports: Sequence[TaskReport], generated_at_ms: int) -> str:
    """The whole page, one section per task."""
    when = datetime.fromtimestamp(generated_at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = "".join(task_section(r) for r in reports)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Distillery break-even report'
            f'</title><meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style>'
            f"</head><body><h1>Distillery break-even report</h1><p>Generated {when}.</p>{sections}</body></html>\n")
