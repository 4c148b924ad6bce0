"""The Batch API path against the local server: custom ids, half price, no PII."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.sim.teacher_server import SimTeacherServer
from distillery.errors import TeacherError
from distillery.settings import load_settings
from streams.teacher.batch import BatchLabeler
from streams.teacher.client import RetryPolicy, TeacherClient
from streams.teacher.cost import cost_usd

ROOT = Path(__file__).resolve().parents[4]
FAST = RetryPolicy(base_s=0.001, cap_s=0.01)
ITEMS = {
    "ev-1": "STARBUCKS #1234 SEATTLE WA",
    "ev-2": "SHELL OIL 57444 PORTLAND OR",
    "ev-3": "ZELLE TO jane.doe@example.com 4111 1111 1111 1111",
}


def demo_client(base_url: str) -> TeacherClient:
    spec = load_settings(ROOT / "distillery.toml", env={}).task("transactions")
    return TeacherClient(spec, api_key="k", base_url=base_url, retry=FAST)


async def test_batch_round_trip_matches_custom_ids_at_half_price() -> None:
    async with SimTeacherServer(batch_delay_s=0.05) as server:
        async with demo_client(server.base_url) as client:
            out = await BatchLabeler(client, poll_s=0.02).run(ITEMS)
            online = await client.label(ITEMS["ev-1"])
    assert out.status == "completed" and out.errors == {}
    assert {k: r.label for k, r in out.results.items()} == {
        "ev-1": "coffee_shops", "ev-2": "fuel", "ev-3": "transfers_p2p"}
    r1 = out.results["ev-1"]
    assert r1.batch and r1.confidence == pytest.approx(online.confidence)
    assert (r1.prompt_tokens, r1.completion_tokens) == (online.prompt_tokens, online.completion_tokens)
    assert r1.cost_usd == pytest.approx(online.cost_usd / 2)
    assert r1.cost_usd == cost_usd(r1.prompt_tokens, r1.completion_tokens, client.spec.teacher, batch=True)
    assert out.cost_usd == pytest.approx(sum(r.cost_usd for r in out.results.values()))
    seen = server.received_text()
    assert "jane.doe@example.com" not in seen and "4111 1111 1111 1111" not in seen
    assert server.count("/v1/files") == 1 and server.count("/v1/batches") == 1
    assert server.count(f"/v1/batches/{out.batch_id}") >= 2  # polled until complete


async def test_jsonl_lines_carry_custom_ids_and_the_chat_endpoint() -> None:
    async with SimTeacherServer() as server:
        async with demo_client(server.base_url) as client:
            lines = [json.loads(x) for x in BatchLabeler(client).jsonl(ITEMS).decode().splitlines()]
    assert [x["custom_id"] for x in lines] == ["ev-1", "ev-2", "ev-3"]
    assert {(x["method"], x["url"]) for x in lines} == {("POST", "/v1/chat/completions")}
    assert lines[2]["body"]["messages"][1]["content"] == '<input>"ZELLE TO [EMAIL] [CARD]"</input>'
    assert lines[0]["body"]["model"] == "gpt-4.1" and lines[0]["body"]["logprobs"] is True


async def test_step_by_step_and_unmatched_ids() -> None:
    async with SimTeacherServer(batch_delay_s=0.0) as server:
        async with demo_client(server.base_url) as client:
            labeler = BatchLabeler(client, poll_s=0.01)
            batch_id = await labeler.submit({"a": "NETFLIX.COM"})
            batch = await labeler.wait(batch_id)
            out = await labeler.collect(batch, ["a", "lost"])
    assert out.results["a"].label == "streaming_services"
    assert out.errors == {"lost": "missing from the batch output"}


async def test_empty_batch_is_refused() -> None:
    async with SimTeacherServer() as server:
        async with demo_client(server.base_url) as client:
            with pytest.raises(TeacherError, match="no items to submit"):
                await BatchLabeler(client).submit({})


async def test_wait_gives_up_after_timeout() -> None:
    async with SimTeacherServer(batch_delay_s=60) as server:
        async with demo_client(server.base_url) as client:
            labeler = BatchLabeler(client, poll_s=0.01)
            batch_id = await labeler.submit({"a": "NETFLIX.COM"})
            with pytest.raises(TeacherError, match=f"batch {batch_id}: still 'in_progress' after 0s; poll it later"):
                await labeler.wait(batch_id, timeout_s=0.0)
