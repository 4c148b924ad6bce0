"""The HTML page: self-contained, with SVG charts holding the right number of points."""

from __future__ import annotations

import json
import math
import re

import pytest

from distillery.taskspec import EconomicsSpec, TaskSpec
from serving.report.build import build_report
from serving.report.model import ReportInputs, StoreFacts, TaskReport, WindowAgreement
from serving.report.render_html import render_page
from serving.report.render_json import to_json

SPEC = TaskSpec(name="cats", kind="classification", labels=["alpha", "beta"],
                economics=EconomicsSpec(monthly_volume=2_000_000, teacher_prompt_tokens=500, student_prompt_tokens=40,
                                        eval_build_usd=3000, data_curation_usd=1000, monthly_ops_usd=500,
                                        monthly_serving_fixed_usd=200))
WINDOWS = (WindowAgreement(10, 20, 19), WindowAgreement(11, 10, 9), WindowAgreement(13, 8, 4),
           WindowAgreement(14, 5, 5))


def _report(spec: TaskSpec, store: StoreFacts) -> TaskReport:
    """The charts need a break-even: an assumed 80% share (these inputs carry no routed traffic or adapter)."""
    return build_report(ReportInputs(spec, store, generated_at_ms=0), given_share=0.8)


def _points(page: str, series: str) -> int:
    return len(re.findall(rf'<circle class="point" data-series="{series}"', page))


def _polyline(page: str, series: str) -> list[str]:
    m = re.search(rf'<polyline class="series" data-series="{series}"[^>]* points="([^"]*)"', page)
    assert m, series
    return m.group(1).split()


def test_page_has_both_charts_with_one_point_per_month_and_window() -> None:
    r = _report(SPEC, StoreFacts(agreement=WINDOWS))
    page = render_page([r], generated_at_ms=0)
    assert r.economics is not None
    assert page.count("<svg") == 2 and page.count("</svg>") == 2
    # break-even within the 12-month horizon: months 0..12 on both lines
    assert r.economics.months < 12 and len(r.curve) == 13
    for series in ("cumulative cost", "cumulative savings"):
        assert _points(page, series) == 13 and len(_polyline(page, series)) == 13
    assert _points(page, "teacher-student agreement") == 4 and len(_polyline(page, "teacher-student agreement")) == 4
    assert page.count('class="marker"') == 1
    assert f"break-even: {r.economics.months:.1f} months" in page  # 4.2 months
    assert "target 95.0%" in page  # the routing target drawn on the agreement chart
    assert r.decision.headline.replace("'", "&#x27;") in page


def test_page_is_self_contained() -> None:
    r = _report(SPEC, StoreFacts(agreement=WINDOWS))
    page = render_page([r], generated_at_ms=0)
    assert page.startswith("<!doctype html>") and "<style>" in page
    for outside in ("<script", "src=", "href=", "@import", "url("):
        assert outside not in page
    # the only URL is the SVG namespace, which is a name, not a fetch
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}


def test_no_agreement_and_no_break_even_leave_out_what_cannot_be_drawn() -> None:
    low = SPEC.model_copy(update={"economics": SPEC.economics.model_copy(update={"monthly_volume": 1000})})
    r = _report(low, StoreFacts())
    assert r.economics is not None and math.isinf(r.economics.months)
    page = render_page([r], generated_at_ms=0)
    assert page.count("<svg") == 1 and 'class="marker"' not in page
    assert "No labeled example carries a student answer yet" in page
    assert _points(page, "cumulative cost") == 13


def test_late_break_even_stretches_the_curve_to_show_it() -> None:
    mid = SPEC.model_copy(update={"economics": SPEC.economics.model_copy(update={"monthly_volume": 1_000_000})})
    r = _report(mid, StoreFacts())
    assert r.economics is not None
    assert r.economics.months == pytest.approx(4000 / (1e6 * (0.8 * 1032e-6 - 2.8e-6) - 700))  # 32.6
    assert len(r.curve) == math.ceil(r.economics.months * 1.25) + 1
    assert render_page([r], generated_at_ms=0).count('class="marker"') == 1


def test_json_writes_never_as_null() -> None:
    low = SPEC.model_copy(update={"economics": SPEC.economics.model_copy(update={"monthly_volume": 1000})})
    doc = json.loads(to_json([_report(low, StoreFacts())], 5))
    t = doc["tasks"]["cats"]
    assert doc["generated_at_ms"] == 5
    assert t["breaks_even"] is False and t["break_even_months"] is None and t["economics"]["months"] is None
    assert t["verdict"] == "no_eval" and t["decision"]["rows"][0]["name"] == "volume"
