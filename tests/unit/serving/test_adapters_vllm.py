"""The vLLM path against a local server that speaks the runtime LoRA endpoints, records calls and can fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from distillery.errors import ServingError
from distillery.events import AdapterPublished, GateMetrics, ModelScores
from serving.adapters.fetch import LocalAdapter
from serving.adapters.vllm import VllmServer


class FakeVllm:
    """Speaks /v1/load_lora_adapter and /v1/unload_lora_adapter as vLLM does (plain-text answers)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.loaded: dict[str, str] = {}
        self.fail: dict[str, int] = {}
        self.url = ""

    async def load(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("load", body))
        if "load" in self.fail:
            return web.Response(status=self.fail["load"], text="engine is out of LoRA slots")
        if body["lora_name"] in self.loaded:
            return web.Response(status=400, text=f"The lora adapter '{body['lora_name']}' has already been loaded.")
        self.loaded[body["lora_name"]] = body["lora_path"]
        return web.Response(text=f"Success: LoRA adapter '{body['lora_name']}' added successfully.")

    async def unload(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("unload", body))
        if "unload" in self.fail:
            return web.Response(status=self.fail["unload"], text="internal error")
        if self.loaded.pop(body["lora_name"], None) is None:
            return web.Response(status=404, text=f"The lora adapter '{body['lora_name']}' cannot be found.")
        return web.Response(text=f"Success: LoRA adapter '{body['lora_name']}' removed successfully.")


@pytest.fixture
async def vllm() -> AsyncIterator[FakeVllm]:
    fake = FakeVllm()
    app = web.Application()
    app.router.add_post("/v1/load_lora_adapter", fake.load)
    app.router.add_post("/v1/unload_lora_adapter", fake.unload)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


def adapter(adapter_id: str, task: str = "transactions") -> LocalAdapter:
    ev = AdapterPublished(task=task, adapter_id=adapter_id, job_id="j", uri="/x", sha256="0" * 64, base_model="b",
                          student_prompt="", metrics=GateMetrics(gold_size=1, candidate=ModelScores(n=1, accuracy=1)))
    return LocalAdapter(ev, Path(f"/cache/{task}/{adapter_id}"))


async def test_a_new_version_loads_under_a_new_name_then_the_old_one_unloads(vllm: FakeVllm) -> None:
    server = VllmServer(vllm.url + "/v1")  # a base URL ending in /v1 works too
    try:
        await server.activate(adapter("ad-1"))
        assert server.lora_name("transactions") == "transactions-ad-1"
        await server.activate(adapter("ad-2"))
        await server.activate(adapter("ad-2"))  # already serving: nothing sent
    finally:
        await server.aclose()
    assert vllm.calls == [
        ("load", {"lora_name": "transactions-ad-1", "lora_path": "/cache/transactions/ad-1"}),
        ("load", {"lora_name": "transactions-ad-2", "lora_path": "/cache/transactions/ad-2"}),
        ("unload", {"lora_name": "transactions-ad-1"}),
    ]
    assert vllm.loaded == {"transactions-ad-2": "/cache/transactions/ad-2"}
    assert server.serving("transactions") == "ad-2" and server.lora_name("transactions") == "transactions-ad-2"


async def test_a_refused_load_keeps_the_old_adapter_serving_and_loaded(vllm: FakeVllm) -> None:
    server = VllmServer(vllm.url)
    try:
        await server.activate(adapter("ad-1"))
        vllm.fail["load"] = 507
        with pytest.raises(ServingError, match=r"load_lora_adapter 'transactions-ad-2' answered HTTP 507: engine is "
                                               r"out of LoRA slots; see the vLLM server log"):
            await server.activate(adapter("ad-2"))
    finally:
        await server.aclose()
    assert [c[0] for c in vllm.calls] == ["load", "load"]
    assert server.serving("transactions") == "ad-1" and list(vllm.loaded) == ["transactions-ad-1"]


async def test_a_failed_unload_is_a_warning_the_new_adapter_serves(
        vllm: FakeVllm, caplog: pytest.LogCaptureFixture) -> None:
    server = VllmServer(vllm.url)
    try:
        await server.activate(adapter("ad-1"))
        vllm.fail["unload"] = 500
        await server.activate(adapter("ad-2"))
    finally:
        await server.aclose()
    assert server.serving("transactions") == "ad-2"
    assert "unload_lora_adapter 'transactions-ad-1' answered HTTP 500" in caplog.text


async def test_already_loaded_and_already_gone_count_as_done(vllm: FakeVllm) -> None:
    vllm.loaded["transactions-ad-1"] = "/elsewhere"  # left over from a previous subscriber run
    server = VllmServer(vllm.url)
    try:
        await server.activate(adapter("ad-1"))
        del vllm.loaded["transactions-ad-1"]  # an operator unloaded it by hand
        await server.activate(adapter("ad-2"))
    finally:
        await server.aclose()
    assert server.serving("transactions") == "ad-2"
    assert [(c[0], c[1]["lora_name"]) for c in vllm.calls] == [
        ("load", "transactions-ad-1"), ("load", "transactions-ad-2"), ("unload", "transactions-ad-1")]


async def test_a_server_without_the_runtime_lora_api_says_how_to_enable_it(vllm: FakeVllm) -> None:
    server = VllmServer(vllm.url + "/nothing-here")
    try:
        with pytest.raises(ServingError, match="HTTP 404.*--enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"):
            await server.activate(adapter("ad-1"))
    finally:
        await server.aclose()
    down = VllmServer("http://127.0.0.1:9")
    try:
        with pytest.raises(ServingError, match=r"load_lora_adapter 'transactions-ad-1' failed \(Client.*is the "
                                               r"server up\?"):
            await down.activate(adapter("ad-1"))
    finally:
        await down.aclose()
