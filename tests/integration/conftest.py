"""Integration fixtures: the real broker, private topics and consumer groups.

There is no fake Kafka: when the broker is down these tests fail loudly with how
to start it; they never skip.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from distillery.errors import BrokerUnavailableError
from distillery.kafka import check_broker, ensure_topics
from distillery.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _bootstrap() -> str:
    return load_settings(ROOT / "distillery.toml").kafka.bootstrap_servers


@pytest.fixture(scope="session")
def bootstrap() -> str:
    """The broker every integration test uses; fails (never skips) when it is down."""
    servers = _bootstrap()
    try:
        asyncio.run(check_broker(servers, timeout_s=10))
    except BrokerUnavailableError as exc:
        pytest.fail(f"Kafka is required for integration tests and is down: {exc}. "
                    "Run `make test` (it starts the broker) or `distillery kafka up`.", pytrace=False)
    return servers


@pytest.fixture
def derived_config(tmp_path: Path) -> Callable[..., Path]:
    """The project's ``distillery.toml`` with some lines replaced, written as this test's own file."""

    def make(replace: Mapping[str, str], name: str = "distillery.toml") -> Path:
        text = (ROOT / "distillery.toml").read_text()
        for old, new in replace.items():
            assert old in text, f"distillery.toml changed: {old!r} is gone; update this test"
            text = text.replace(old, new)
        path = tmp_path / name
        path.write_text(text)
        return path

    return make


@pytest.fixture
def kafka_settings(settings_factory, bootstrap: str):
    """Settings on the real broker, with this test's own topic prefix, data dir and groups."""

    def make(**overrides: object) -> Settings:
        s = settings_factory(**overrides)
        s = s.with_overrides(kafka=s.kafka.model_copy(update={"bootstrap_servers": bootstrap}))
        asyncio.run(ensure_topics(s))
        return s

    return make


def worker_env(settings: Settings, config: Path | None = None, **extra: str) -> dict[str, str]:
    """Environment that points a worker subprocess at the test's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DISTILLERY_"))}
    env.update(
        DISTILLERY_CONFIG=str(config or ROOT / "distillery.toml"),
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        DISTILLERY_TOPIC_PREFIX=settings.topic_prefix,
        DISTILLERY_DATA_DIR=str(settings.data_dir),
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
    )
    env.update(extra)
    return env


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator:
    """Start ``distillery <args>`` as a subprocess with a test's settings; stop it after."""
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(settings: Settings, *args: str, config: Path | None = None, **env: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "console", *args], env=worker_env(settings, config, **env),
                                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        proc.log_path = log.name  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield spawn
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
