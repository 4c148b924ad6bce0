"""From detector firings to alarms: one shift, one ``DriftEvent``, not a storm.

A detector may fire several times for one shift: a gradual move makes ADWIN
cut again every few hundred events, and a detector restarted on the new level
can re-detect the tail of the move. :class:`AlarmGate` folds those into the
first alarm:

* **cooldown** - an alarm stays active until its signal has gone
  ``cooldown_events`` observations without firing; every firing meanwhile is
  folded into it and restarts that quiet period;
* **hysteresis** - during an active alarm, a firing becomes a new alarm only
  if the level has since moved by at least ``hysteresis`` times the signal's
  warning-size move beyond the level the alarm reported, so a drift that keeps
  going is re-reported at each such step but a re-detection of the same level
  is not. (Category mix reports a distance from a reference that is reset at
  each alarm, not a level, so it has no hysteresis step.)

>>> from monitors.signals import Agreement
>>> gate = AlarmGate(cooldown_events=1000)
>>> sig = Agreement()
>>> [gate.offer(sig, Change(0.95, 0.85, at)) for at in (5000, 5300, 6100, 7200)]
[True, False, False, True]
>>> gate.offer(sig, Change(0.85, 0.83, 7400)), gate.offer(sig, Change(0.83, 0.80, 7500))
(False, True)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from distillery.errors import ConfigError
from distillery.events import DriftEvent
from monitors.severity import severity_of
from monitors.signals.base import Change, Signal


@dataclass(frozen=True)
class Position:
    """Where an observation came from: a record's topic, partition and offset."""

    topic: str
    partition: int
    offset: int


@dataclass
class _Episode:
    """One signal's active alarm: when it last fired, the level it reported, firings folded."""

    last_fire_at: int
    level: float | None
    folded: int = 0


@dataclass
class AlarmGate:
    """Decides, per signal, which detector firings become alarms.

    Parameters
    ----------
    cooldown_events
        Observations of a signal without a firing that end its active alarm.
    hysteresis
        Multiple of the signal's warning-size move the level must travel,
        during an active alarm, for a firing to raise a new one.
    """

    cooldown_events: int = 2000
    hysteresis: float = 1.0
    episodes: dict[str, _Episode] = field(default_factory=dict)
    folded_total: int = 0

    def __post_init__(self) -> None:
        if self.cooldown_events < 0:
            raise ConfigError(f"cooldown_events must be >= 0, got {self.cooldown_events!r}; use 0 to disable")
        if self.hysteresis <= 0:
            raise ConfigError(f"hysteresis must be > 0, got {self.hysteresis!r}; 1.0 is one warning-size move")

    def offer(self, signal: Signal, change: Change) -> bool:
        """Record one firing of ``signal``; True when it is a new alarm, False when folded."""
        ep = self.episodes.get(signal.name)
        if ep is not None and change.at - ep.last_fire_at < self.cooldown_events:
            ep.last_fire_at = change.at
            if not self._moved_on(signal, ep, change):
                ep.folded += 1
                self.folded_total += 1
                return False
        self.episodes[signal.name] = _Episode(last_fire_at=change.at, level=change.after)
        return True

    def end(self, signal_name: str) -> None:
        """End the signal's active alarm (its reference changed: the next firing is a new alarm)."""
        self.episodes.pop(signal_name, None)

    def folded(self, signal_name: str) -> int:
        """Firings folded into the signal's current (or last) alarm."""
        ep = self.episodes.get(signal_name)
        return ep.folded if ep else 0

    def _moved_on(self, signal: Signal, ep: _Episode, change: Change) -> bool:
        if not signal.tracks_level or ep.level is None or change.after is None:
            return False
        scale = signal.scale
        return scale.move(ep.level, change.after) >= self.hysteresis * scale.warning


def drift_id(task: str, signal: str, position: Position | None, at: int) -> str:
    """A drift id that is the same when the same event makes the same signal fire again.

    Derived from where the firing event sits in Kafka (or, without a position,
    from the signal's observation count), so a replay after a crash names the
    same drift and consumers can drop the duplicate.
    """
    where = f"{position.topic}|{position.partition}|{position.offset}" if position else f"n|{at}"
    return "drift-" + hashlib.sha256(f"{task}|{signal}|{where}".encode()).hexdigest()[:32]


def build_drift_event(
    task: str,
    signal: Signal,
    change: Change,
    *,
    position: Position | None = None,
    event_ts_ms: int | None = None,
    detail: dict[str, Any] | None = None,
) -> DriftEvent:
    """The ``DriftEvent`` for an alarm on ``signal``: estimates, severity from the move's size."""
    return DriftEvent(
        task=task,
        drift_id=drift_id(task, signal.name, position, change.at),
        signal=signal.name,
        detector=signal.detector_name,
        estimate_before=change.before,
        estimate_after=change.after,
        severity=severity_of(signal.scale, change.before, change.after),
        source_topic=position.topic if position else None,
        source_partition=position.partition if position else None,
        source_offset=position.offset if position else None,
        events_seen=change.at,
        event_ts_ms=event_ts_ms,
        detail={**signal.detail(), **(detail or {})},
    )
