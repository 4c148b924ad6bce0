"""Run a worker until SIGINT or SIGTERM: the one runner every non-Faust worker uses.

A worker is an ``async`` callable taking a ``stop`` event; it checks the event
between units of work and returns once it is set, after committing what it
finished. :func:`run_until_signal` gives it a fresh event loop and sets the
event on SIGINT (Ctrl-C) or SIGTERM (``docker stop``, Kubernetes), so every
worker stops the same way. (The streams worker is a Faust app: Faust's own
worker handles its signals.)

>>> import asyncio
>>> async def worker(stop: asyncio.Event) -> str:
...     stop.set()  # stands in for a signal
...     await stop.wait()
...     return "stopped cleanly"
>>> run_until_signal(worker)
'stopped cleanly'
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_until_signal(worker: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run ``worker(stop)`` in a new event loop; SIGINT and SIGTERM set ``stop``. Returns what it returns."""

    async def main() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        return await worker(stop)

    return asyncio.run(main())
