"""A headless Chromium driven over the DevTools protocol (no extra package): navigate, press keys,
type, read the page. Fails (never skips) when Chromium is missing."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEYS = {"Enter": 13, "Escape": 27}


class Browser:
    """One Chromium page; ``async with Browser() as b: await b.goto(url)``."""

    async def __aenter__(self) -> Browser:
        exe = shutil.which("chromium")
        assert exe is not None, ("chromium is not installed: the review page test needs it. Install it with "
                                 "`apt-get update && apt-get install -y chromium` (or `make install`).")
        self._profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        self.proc = await asyncio.create_subprocess_exec(  # its own process group: its helpers go with it
            exe, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-port=0", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        for _ in range(600):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self.http = aiohttp.ClientSession()
        pages = await (await self.http.get(f"http://127.0.0.1:{port}/json/list")).json()
        url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        self.ws = await self.http.ws_connect(url, max_msg_size=0)
        self._ids = itertools.count(1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await self.http.close()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the browser and its helper processes
        except ProcessLookupError:
            pass
        await self.proc.wait()
        # a helper may still be writing the profile for a moment after the browser exits
        for _ in range(50):
            try:
                shutil.rmtree(self._profile.name)
                break
            except FileNotFoundError:
                break
            except OSError:
                await asyncio.sleep(0.1)
        self._profile.cleanup()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == msg_id:
                assert "error" not in msg, msg
                return msg.get("result", {})

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def eval(self, expression: str) -> Any:
        got = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return got["result"].get("value")

    async def wait_for(self, expression: str, expected: Any, *, tries: int = 300) -> None:
        """Poll ``expression`` until it gives ``expected`` (fails with the last value seen)."""
        value = None
        for _ in range(tries):
            value = await self.eval(expression)
            if value == expected:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{expression} stayed {value!r}, expected {expected!r}")

    async def press(self, key: str) -> None:
        code = KEYS.get(key, ord(key.upper()) if len(key) == 1 else 0)
        text = {"text": key} if len(key) == 1 else ({"text": "\r"} if key == "Enter" else {})
        await self.send("Input.dispatchKeyEvent", type="keyDown", key=key, windowsVirtualKeyCode=code, **text)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key, windowsVirtualKeyCode=code)

    async def type(self, text: str) -> None:
        await self.send("Input.insertText", text=text)
