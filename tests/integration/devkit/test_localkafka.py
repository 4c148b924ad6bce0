"""`distillery kafka up|down|status` runs a real broker and only ever stops its own."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest

from devkit.localkafka.broker import LocalBroker
from distillery.errors import BrokerCommandError
from distillery.kafka import check_broker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_is_idempotent_and_down_stops_only_our_broker(tmp_path: Path, bootstrap: str) -> None:
    broker = LocalBroker(tmp_path / "kafka", port=_free_port(), controller_port=_free_port(), heap="256m")
    assert broker.status() == "down"
    assert broker.down() == "not running"
    try:
        assert broker.up(wait_s=120).startswith("started")
        pid = broker.pid()
        assert pid is not None
        assert broker.up(wait_s=30) == "already running" and broker.pid() == pid
        assert asyncio.run(check_broker(broker.bootstrap)) is not None
        assert broker.status().startswith("up")
    finally:
        assert broker.down().startswith("stopped")
    assert broker.pid() is None and not broker.answers()
    # the shared test broker is untouched
    asyncio.run(check_broker(bootstrap))


def test_down_never_kills_a_process_it_did_not_start(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "kafka", port=_free_port(), controller_port=_free_port())
    broker.home.mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        broker.pid_file.write_text(str(stranger.pid))  # a stale pid file pointing at someone else
        assert broker.down() == "not running"
        assert stranger.poll() is None
    finally:
        stranger.kill()


def test_up_refuses_a_port_someone_else_holds(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        broker = LocalBroker(tmp_path / "kafka", port=s.getsockname()[1], controller_port=_free_port())
        with pytest.raises(BrokerCommandError, match="is taken by another process"):
            broker.up(wait_s=5)
