"""Line charts as inline SVG text: no scripts, no fonts or styles fetched from anywhere.

Each series is a ``<polyline class="series">`` plus one ``<circle class="point">``
per value (with a ``<title>`` the browser shows on hover), so the page stays
readable offline and the points can be counted.

>>> svg = line_chart([Series("s", ((0, 1), (1, 3)), "#333")], title="t")
>>> svg.count('class="point"'), 'points="' in svg
(2, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

W, H = 680, 300
LEFT, RIGHT, TOP, BOTTOM = 76, 16, 46, 44


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    color: str


@dataclass(frozen=True)
class Marker:
    """A highlighted point with a label (the break-even)."""

    x: float
    y: float
    label: str


@dataclass(frozen=True)
class HLine:
    """A dashed horizontal reference line (a target)."""

    y: float
    label: str


def _nice_step(span: float, n: int = 5) -> float:
    raw = span / n if span > 0 else 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _range(values: Sequence[float], lo: float | None, hi: float | None) -> tuple[float, float]:
    a = min(values) if lo is None else lo
    b = max(values) if hi is None else hi
    return (a, b) if b > a else (a - 1.0, b + 1.0)


def line_chart(series: Sequence[Series], *, title: str, x_label: str = "", y_label: str = "",
               x_fmt: Callable[[float], str] = lambda v: f"{v:g}", y_fmt: Callable[[float], str] = lambda v: f"{v:g}",
               y_min: float | None = None, y_max: float | None = None, markers: Sequence[Marker] = (),
               hlines: Sequence[HLine] = (), x_ticks: Sequence[float] | None = None) -> str:
    """An SVG line chart of ``series`` with axes, gridlines, a legend, markers and reference lines.

    ``x_ticks`` places the x labels (default: six evenly spaced).
    """
    xs = [x for s in series for x, _ in s.points] + [m.x for m in markers]
    ys = [y for s in series for _, y in s.points] + [m.y for m in markers] + [h.y for h in hlines]
    x0, x1 = _range(xs or [0.0], None, None)
    y0, y1 = _range(ys or [0.0], y_min, y_max)
    step = _nice_step(y1 - y0)
    y0, y1 = math.floor(y0 / step) * step, math.ceil(y1 / step) * step
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return TOP + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" role="img" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<text x="{LEFT}" y="18" class="chart-title">{escape(title)}</text>']
    tick = y0
    while tick <= y1 + step / 2:
        y = py(tick)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(y_fmt(tick))}</text>')
        tick += step
    for xv in x_ticks if x_ticks is not None else [x0 + (x1 - x0) * i / 5 for i in range(6)]:
        anchor = "end" if px(xv) > W - RIGHT - 30 else "middle"  # the last label stays inside the box
        out.append(f'<text class="tick" x="{px(xv):.1f}" y="{H - BOTTOM + 16}" '
                   f'text-anchor="{anchor}">{escape(x_fmt(xv))}</text>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + ph}" y2="{TOP + ph}"/>'
               f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + ph}"/>'
               f'<text class="label" x="{LEFT + pw / 2:.1f}" y="{H - 6}" text-anchor="middle">{escape(x_label)}</text>'
               f'<text class="label" transform="translate(14 {TOP + ph / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    for h in hlines:
        out.append(f'<line class="ref" x1="{LEFT}" x2="{W - RIGHT}" y1="{py(h.y):.1f}" y2="{py(h.y):.1f}"/>'
                   f'<text class="tick" x="{W - RIGHT}" y="{py(h.y) - 4:.1f}" text-anchor="end">{escape(h.label)}</text>')
    for k, s in enumerate(series):
        name = escape(s.name)
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
        out.append(f'<polyline class="series" data-series="{name}" fill="none" stroke="{s.color}" '
                   f'stroke-width="2" points="{coords}"/>')
        for x, y in s.points:
            out.append(f'<circle class="point" data-series="{name}" cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" '
                       f'fill="{s.color}"><title>{name}: {escape(x_fmt(x))}, {escape(y_fmt(y))}</title></circle>')
        lx = LEFT + k * 190
        out.append(f'<rect x="{lx}" y="{TOP - 20}" width="12" height="12" fill="{s.color}"/>'
                   f'<text class="legend" x="{lx + 18}" y="{TOP - 10}">{name}</text>')
    for m in markers:
        out.append(f'<circle class="marker" cx="{px(m.x):.1f}" cy="{py(m.y):.1f}" r="6"><title>{escape(m.label)}'
                   f'</title></circle><text class="marker-label" x="{px(m.x) + 9:.1f}" y="{py(m.y) + 18:.1f}">'
                   f'{escape(m.label)}</text>')
    out.append("</svg>")
    return "".join(out)
