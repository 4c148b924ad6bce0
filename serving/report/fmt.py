"""How the report writes numbers for people: money, shares, months, counts.

>>> usd(1234.5), usd(0.000123), pct(0.8), months(2.345), months(float("inf")), count(1e7)
('$1,234.50', '$0.000123', '80.0%', '2.3 months', 'never', '10,000,000')
"""

from __future__ import annotations

import math


def usd(x: float) -> str:
    """Dollars with cents, or with significant digits below a cent (per-request costs)."""
    if math.isinf(x):
        return "∞"
    if x != 0 and abs(x) < 0.01:
        return f"${x:.3g}" if abs(x) >= 1e-3 else f"${x:.6f}".rstrip("0")
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.2f}"


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def months(x: float) -> str:
    if math.isinf(x):
        return "never"
    digits = 0 if x >= 10 else 1 if x >= 1 else 2
    return f"{x:.{digits}f} months"


def count(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:,.0f}"
