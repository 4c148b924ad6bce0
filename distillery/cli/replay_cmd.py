"""``distillery replay``: send a log file (or synthetic traffic) as inference events."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
