"""Distillery: continuous distillation from production traffic.

This small shared package holds what every worker imports: the event contract
(:mod:`distillery.events`), topic names, typed settings and task specs, the error
hierarchy, Kafka helpers and the ``distillery`` command line.
"""

from __future__ import annotations

__version__ = "0.1.0"
