"""How bad a move of a signal is: ``info``, ``warning`` or ``critical``.

Each signal declares a :class:`SeverityScale`: how big a move must be to be a
warning or critical, whether the move is measured in the signal's own units or
relative to where it was, and which direction hurts. A move the harmless way
(agreement going up, dead letters going down) is always ``info``: still worth
a drift event, never a page.

>>> scale = SeverityScale(warning=0.03, critical=0.10, worse="down")
>>> severity_of(scale, 0.95, 0.85), severity_of(scale, 0.95, 0.93), severity_of(scale, 0.85, 0.95)
('critical', 'info', 'info')
>>> severity_of(SeverityScale(warning=0.2, critical=0.5, relative=True), 40.0, 52.0)
'warning'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from distillery.errors import ConfigError
from distillery.events import Severity

Direction = Literal["up", "down", "both"]


@dataclass(frozen=True)
class SeverityScale:
    """Move sizes that make a warning and a critical, and the direction that hurts.

    Parameters
    ----------
    warning, critical
        Smallest move (absolute, or a fraction of ``|before|`` when ``relative``)
        that is a warning / critical.
    relative
        Measure the move relative to the level before (lengths), not in units.
    worse
        The direction that hurts: ``"up"``, ``"down"`` or ``"both"``.
    """

    warning: float
    critical: float
    relative: bool = False
    worse: Direction = "both"

    def __post_init__(self) -> None:
        if not 0 < self.warning <= self.critical:
            raise ConfigError(
                f"severity scale needs 0 < warning <= critical, got warning={self.warning!r} "
                f"critical={self.critical!r}; raise critical or lower warning"
            )

    def move(self, before: float, after: float) -> float:
        """Size of the move from ``before`` to ``after`` in this scale's units (>= 0)."""
        delta = abs(after - before)
        return delta / max(abs(before), 1e-12) if self.relative else delta


def severity_of(scale: SeverityScale, before: float | None, after: float | None) -> Severity:
    """Severity of a move; ``info`` when either end is unknown or the move is harmless."""
    if before is None or after is None:
        return "info"
    if (scale.worse == "up" and after < before) or (scale.worse == "down" and after > before):
        return "info"
    size = scale.move(before, after) + 1e-9  # 0.95 - 0.85 is 0.0999... in floating point
    if size >= scale.critical:
        return "critical"
    return "warning" if size >= scale.warning else "info"
