"""One run-until-signal runner for every non-Faust worker (issue #16): either stop signal stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from distillery.runner import run_until_signal


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_sets_the_event_and_the_worker_returns(sig: signal.Signals) -> None:
    seen: list[str] = []

    async def worker(stop: asyncio.Event) -> str:
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(stop.wait(), timeout=10)  # never reached past it: the signal would have killed us
        seen.append("committed what it finished")
        return "stopped"

    assert run_until_signal(worker) == "stopped"
    assert seen == ["committed what it finished"]
