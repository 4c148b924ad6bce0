"""The monitors' HTTP side: JSON, metrics and static files, ports, and the ops page as a real
headless Chromium renders it (the test fails, never skips, when Chromium is missing)."""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import tempfile
import urllib.error
import urllib.request

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from distillery.errors import ConfigError
from distillery.events import DriftEvent
from distillery.settings import HttpSettings, MonitorsSettings
from distillery.webguard import Guard
from monitors.metrics import Ops, TaskStats
from monitors.web import ops_app, serve

T0 = 1_700_000_000_000
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _ops() -> Ops:
    ops = Ops()
    stats = TaskStats("transactions", bucket=10)
    for i in range(300):  # 30 agreement points, 30 category points over 5 minutes
        stats.on_teacher(agree=i % 10 != 0 if i < 200 else i % 4 != 0, t_ms=T0 + 1000 * i, level=0.9)
        stats.on_inference(["fuel", "groceries", "coffee_shops"][i % 3], t_ms=T0 + 1000 * i, distance=0.02)
    for signal, severity, at in (("agreement", "critical", 210), ("category_mix", "warning", 250)):
        stats.on_alarm(DriftEvent(task="transactions", signal=signal, detector="ADWIN", estimate_before=0.9,
                                  estimate_after=0.75, severity=severity, event_ts_ms=T0 + 1000 * at))
    stats.refresh({"agreement": 0.76}, {"agreement": 300}, 0)
    ops.tasks["transactions"] = stats
    ops.tasks["<img src=x onerror=alert(1)>"] = TaskStats("<img src=x onerror=alert(1)>")
    return ops


async def test_json_page_static_and_metrics_routes() -> None:
    ops = _ops()
    async with TestClient(TestServer(ops_app(ops))) as client:
        state = await (await client.get("/api/state")).json()
        assert len(state["tasks"]["transactions"]["agreement"]) == 30
        assert state["tasks"]["transactions"]["alarms"][0]["signal"] == "agreement"
        page = await client.get("/")
        assert page.status == 200 and '<script src="static/ops.js">' in await page.text()
        js = await client.get("/static/ops.js")
        assert js.status == 200 and "api/state" in await js.text()
        metrics = await client.get("/metrics")
        assert metrics.headers["Content-Type"].startswith("text/plain; version=")
        assert 'distillery_agreement_ratio{task="transactions"} 0.76' in await metrics.text()


def _get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return bytes(resp.read())


async def test_port_zero_binds_free_ports_and_one_port_serves_both() -> None:
    ops = _ops()
    served = await serve(ops, host="127.0.0.1", http_port=0, web_port=0)
    try:
        assert served.http_port != served.web_port and 0 not in (served.http_port, served.web_port)
        metrics = await asyncio.to_thread(_get, served.http_port, "/metrics")
        assert b"distillery_events_in_total" in metrics
        assert b"distillery.monitors" not in metrics and b"<html" in await asyncio.to_thread(_get, served.web_port, "/")
    finally:
        await served.close()
    port = served.web_port  # free again now
    shared = await serve(ops, host="127.0.0.1", http_port=port, web_port=port)
    try:
        assert len(shared.runners) == 1 and shared.http_port == shared.web_port == port
        assert b"distillery_sampled_total" in await asyncio.to_thread(_get, port, "/metrics")
    finally:
        await shared.close()


async def _chromium_dom(url: str) -> str:
    exe = shutil.which("chromium")
    assert exe is not None, ("chromium is not installed: the ops page test needs it. Install it with "
                             "`apt-get update && apt-get install -y chromium` (or `make install`).")
    with tempfile.TemporaryDirectory() as profile:
        proc = await asyncio.create_subprocess_exec(
            exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=4000", "--dump-dom", url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def test_headless_chromium_draws_every_point_and_alarm() -> None:
    served = await serve(_ops(), host="127.0.0.1", http_port=0, web_port=0)
    try:
        dom = await _chromium_dom(f"http://127.0.0.1:{served.web_port}/?refresh=60")
    finally:
        await served.close()
    assert 'data-refreshes="1"' in dom  # the page fetched api/state and rendered it
    assert re.search(r'data-chart="agreement" data-points="30"', dom)
    assert dom.count('class="pt agreement-pt"') == 30
    assert sorted(re.findall(r'class="cat-area" data-category="([^"]+)" data-n="30"', dom)) == [
        "coffee_shops", "fuel", "groceries"]
    assert dom.count('class="alarm-dot critical"') == 1 and dom.count('class="alarm-dot warning"') == 1
    assert dom.count('class="alarm-mark critical"') == 1  # on the agreement chart only
    assert dom.count('class="alarm-mark warning"') == 2  # category_mix: on both charts
    assert dom.count('class="alarm-row"') == 2
    assert re.search(r'<tr data-task="transactions"><td>transactions</td><td>300</td>', dom)
    # names from Kafka are text, never markup
    assert "<img src=x" not in dom and "&lt;img src=x onerror=alert(1)&gt;" in dom


class _BrokenOps(Ops):
    def view(self) -> dict[str, object]:
        raise RuntimeError("state unavailable")


async def test_the_page_says_so_when_its_data_cannot_be_fetched() -> None:
    served = await serve(_BrokenOps(), host="127.0.0.1", http_port=0, web_port=0)
    try:
        dom = await _chromium_dom(f"http://127.0.0.1:{served.web_port}/?refresh=60")
    finally:
        await served.close()
    assert 'data-refreshes="0"' in dom and 'class="status error"' in dom
    assert "cannot reach the monitors worker (HTTP 500)" in dom


OPS_KEY = "ops-key-0123456789abcdef"


def _guard(**conf: object) -> Guard:
    return Guard([OPS_KEY], HttpSettings(**conf), surface="ops page",
                 open_paths=() if conf.get("protect_metrics") else ("/metrics",), browser=True)


async def test_the_ops_page_asks_a_browser_for_the_key_and_leaves_metrics_open() -> None:
    app = ops_app(_ops(), guard=_guard())

    async def review(_: web.Request) -> web.Response:  # a page another module adds later
        return web.json_response({"review": []})

    app.router.add_get("/review", review)
    async with TestClient(TestServer(app)) as client:
        for path in ("/", "/api/state", "/static/ops.js", "/review"):
            resp = await client.get(path)
            assert resp.status == 401, path
            assert resp.headers["WWW-Authenticate"] == 'Basic realm="Distillery ops page", charset="UTF-8"'
        basic = {"Authorization": "Basic " + base64.b64encode(f"me:{OPS_KEY}".encode()).decode()}
        assert (await client.get("/", headers=basic)).status == 200
        assert (await client.get("/review", headers={"Authorization": f"Bearer {OPS_KEY}"})).status == 200
        state = await client.get("/api/state", headers={"Authorization": f"Bearer {OPS_KEY}"})
        assert "transactions" in (await state.json())["tasks"]
        assert (await client.get("/metrics")).status == 200  # Prometheus scrapes without a key by default
        assert await (await client.get("/readyz")).json() == {"ready": True, "reason": "serving", "detail": {}}


async def test_protected_metrics_need_the_key_on_their_own_port_too() -> None:
    served = await serve(_ops(), host="127.0.0.1", http_port=0, web_port=0, guard=_guard(protect_metrics=True))
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            await asyncio.to_thread(_get, served.http_port, "/metrics")
        assert err.value.code == 401
        assert b'"status": "ok"' in await asyncio.to_thread(_get, served.http_port, "/healthz")
    finally:
        await served.close()


async def test_an_open_ops_page_refuses_a_reachable_address() -> None:
    with pytest.raises(ConfigError, match="ops page would listen on '0.0.0.0' with no API key"):
        await serve(_ops(), host="0.0.0.0", http_port=0, web_port=0)
    served = await serve(_ops(), host="127.0.0.1", http_port=0, web_port=0)  # loopback: open, with a warning
    await served.close()


def test_the_monitors_listen_on_loopback_unless_configured() -> None:
    assert MonitorsSettings().host == "127.0.0.1"
