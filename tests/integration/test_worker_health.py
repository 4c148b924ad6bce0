"""Every worker answers /healthz and turns ready on /readyz once it has joined its group; an open surface
refuses a reachable address, a keyed one answers only with the key (real workers, real broker)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devkit.sim.teacher_server import SimTeacherServer

KEY = "health-key-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, key: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as err:
        body, status = err.read(), err.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def _until_ready(proc: Any, port: int, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, Path(proc.log_path).read_text()[-3000:]
        try:
            status, last = _get(port, "/readyz")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status = 0
        if status == 200:
            return dict(last)
        time.sleep(0.5)
    pytest.fail(f"not ready on :{port} within {timeout_s:.0f}s; last /readyz: {last}\n"
                f"{Path(proc.log_path).read_text()[-3000:]}")


def test_every_worker_becomes_ready_and_private_surfaces_need_the_key(kafka_settings, spawn_worker) -> None:
    s = kafka_settings()
    with SimTeacherServer(latency_s=0.0).run_in_thread() as teacher:
        streams_port, trainer_port, web_port, metrics_port = (_free_port() for _ in range(4))
        streams = spawn_worker(s, "streams", "--health-port", str(streams_port), OPENAI_BASE_URL=teacher.base_url)
        trainer = spawn_worker(s, "trainer", "--health-port", str(trainer_port))
        monitors = spawn_worker(s, "monitors", "--host", "0.0.0.0", "--http-port", str(metrics_port),
                                "--web-port", str(web_port), DISTILLERY_API_KEYS=KEY)
        open_monitors = spawn_worker(s, "monitors", "--host", "0.0.0.0", "--http-port", "0", "--web-port", "0")

        assert open_monitors.wait(120) != 0
        log = " ".join(Path(open_monitors.log_path).read_text().split())  # the console wraps long lines
        assert "ops page would listen on '0.0.0.0' with no API key" in log and "DISTILLERY_API_KEYS" in log

        ready = _until_ready(streams, streams_port)
        assert ready["ready"] and ready["detail"]["partitions"] == 3 * s.kafka.partitions  # events, drift, reviewed
        assert _get(streams_port, "/healthz") == (200, {"status": "ok"})
        ready = _until_ready(trainer, trainer_port)
        assert ready["reason"].startswith("joined") and ready["detail"]["training"] is False
        ready = _until_ready(monitors, web_port)
        assert ready["ready"] and ready["detail"]["lag"] == 0

        status, body = _get(web_port, "/api/state")
        assert status == 401 and body["error"]["code"] == "missing_api_key"
        assert _get(web_port, "/api/state", "wrong-key-0123456789abcdef")[0] == 401
        status, body = _get(web_port, "/api/state", KEY)
        assert status == 200 and "tasks" in body
        status, metrics = _get(metrics_port, "/metrics")  # open for Prometheus by default
        assert status == 200 and "distillery_events_in" in metrics
