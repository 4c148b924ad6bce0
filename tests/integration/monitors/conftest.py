"""Fixtures for the monitors worker on the real broker: a subprocess with its own ports."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from monitors_support import Worker, free_port

from distillery.settings import Settings


@pytest.fixture
def start_monitors(spawn_worker) -> Callable[[Settings], Worker]:
    """Start ``distillery monitors`` for a test's settings, on free ports."""

    def start(settings: Settings) -> Worker:
        http_port, web_port = free_port(), free_port()
        proc = spawn_worker(settings, "monitors", "--http-port", str(http_port), "--web-port", str(web_port))
        return Worker(proc, http_port, web_port)

    return start
