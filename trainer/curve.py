"""The loss curve saved beside an adapter: ``loss.json`` plus a picture.

A PNG when matplotlib is installed; otherwise an SVG polyline written by hand,
so the curve is always viewable without adding a plotting dependency.

>>> svg = loss_svg([(1, 2.0), (2, 1.0), (3, 0.5)])
>>> svg.startswith("<svg") and "polyline" in svg
True
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path

WIDTH, HEIGHT, PAD = 640, 360, 48


def write_loss_curve(folder: Path, points: Sequence[tuple[int, float]]) -> list[Path]:
    """Write ``loss.json`` and ``loss.png`` (or ``loss.svg``) into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "loss.json"
    data.write_text(json.dumps([{"step": s, "loss": loss} for s, loss in points], indent=1) + "\n")
    if importlib.util.find_spec("matplotlib") is not None:
        return [data, _png(folder / "loss.png", points)]
    picture = folder / "loss.svg"
    picture.write_text(loss_svg(points))
    return [data, picture]


def loss_svg(points: Sequence[tuple[int, float]]) -> str:
    """An SVG line chart of loss against step, with the first and last values labeled."""
    if not points:
        body = f'<text x="{PAD}" y="{HEIGHT / 2}">no loss logged</text>'
    else:
        steps = [s for s, _ in points]
        losses = [v for _, v in points]
        s0, s1 = min(steps), max(steps)
        lo, hi = min(losses), max(losses)
        if hi == lo:
            hi = lo + 1.0

        def xy(step: int, loss: float) -> str:
            x = PAD + (WIDTH - 2 * PAD) * ((step - s0) / (s1 - s0) if s1 > s0 else 0.5)
            y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (loss - lo) / (hi - lo)
            return f"{x:.1f},{y:.1f}"

        line = " ".join(xy(s, v) for s, v in points)
        body = (
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{line}"/>'
            f'<text x="{PAD}" y="{PAD - 12}">loss {losses[0]:.4f} at step {steps[0]}, '
            f"{losses[-1]:.4f} at step {steps[-1]}</text>"
            f'<text x="{PAD}" y="{HEIGHT - 12}">step {s0}</text>'
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 12}" text-anchor="end">step {s1}</text>'
            f'<text x="8" y="{PAD}">{hi:.3g}</text><text x="8" y="{HEIGHT - PAD}">{lo:.3g}</text>'
        )
    axes = (
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#444"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#444"/>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>'
        f"{axes}{body}</svg>\n"
    )


def _png(path: Path, points: Sequence[tuple[int, float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot([s for s, _ in points], [v for _, v in points])
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
