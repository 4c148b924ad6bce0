"""What every subcommand shares: settings built once, and error output."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

from distillery.settings import Settings, load_settings

err_console = Console(stderr=True)


class Context:
    """Holds the config path; builds :class:`Settings` once, on first use."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error a person can act on and exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)

