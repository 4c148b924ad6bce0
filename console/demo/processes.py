"""Worker subprocesses of the demo: started with the demo's settings, stopped cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from distillery.settings import Settings, process_environment


def worker_env(settings: Settings, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment a worker needs to see the demo's config, topics and data."""
    env = process_environment()
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        DISTILLERY_TOPIC_PREFIX=settings.topic_prefix,
        DISTILLERY_DATA_DIR=str(settings.data_dir.resolve()),
        DISTILLERY_MODEL_CACHE=str(settings.model_dir.resolve()),
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    if settings.config_path:
        env["DISTILLERY_CONFIG"] = str(Path(settings.config_path).resolve())
    env.update(extra)
    return env


@dataclass
class Workers:
    """The demo's worker processes, each logging to its own file."""

    settings: Settings
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "console", *args],
                                env=worker_env(self.settings, self.env), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = proc
        return proc

    def dead(self) -> list[str]:
        """Workers that exited on their own (the live view says so)."""
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def stop(self, timeout_s: float = 30.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
