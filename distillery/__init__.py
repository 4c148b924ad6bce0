"""Distillery's contract: the ground floor every worker stands on.

This package holds what the workers share and nothing above them: the event
records (:mod:`distillery.events`), topic names, typed settings and task specs,
the error hierarchy, the adapter book, answer comparison, Kafka helpers and the
worker runner. It imports no worker (``streams``, ``monitors``, ``trainer``,
``serving``), no command (:mod:`console`) and no dev kit (:mod:`devkit`);
``tests/unit/test_layout.py`` holds it to that.
"""

from __future__ import annotations

__version__ = "0.1.0"
