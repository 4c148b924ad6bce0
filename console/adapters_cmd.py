"""``distillery adapters``: follow, list, pin and roll back the adapters that serve each task."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import click
from rich.console import Console

from console.common import Context, fail
from console.threads import spin_threads
from distillery.events import AdapterControl
from distillery.runner import run_until_signal
from distillery.settings import Settings


def _console() -> Console:
    """Built per command, so it takes the terminal's width at the time (COLUMNS included)."""
    return Console(highlight=False, soft_wrap=True)


@click.group("adapters")
def adapters() -> None:
    """Adapters out to serving: watch and hot-swap them, list them, pin one, roll back."""


@adapters.command("watch")
@click.option("--task", "-t", "tasks", multiple=True, help="Only this task (repeatable; default: every task).")
@click.option("--vllm", "vllm_url", default=None, metavar="URL",
              help="Swap adapters into the vLLM server at URL (e.g. http://127.0.0.1:8000) instead of in-process.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="In-process mode: serve the router here (0: no HTTP; default [serving] port, 8000).")
@click.option("--host", default=None, help="Address the router listens on (default [serving] host, 127.0.0.1).")
@click.pass_obj
def watch(ctx: Context, tasks: tuple[str, ...], vllm_url: str | None, port: int | None, host: str | None) -> None:
    """Follow adapters.published and adapters.control and hot-swap each task's adapter.

    Every replica reads both topics from the beginning (no consumer group), so at
    start it serves each task's current adapter, pins and rollbacks included, and
    then follows new ones. Each adapter is fetched into DATA_DIR/serving/adapters
    and its SHA-256 checked; a mismatch is refused and never loaded.

    \b
    In-process (default): loads the tasks' student base model with transformers +
    peft, routes requests on --port (student when confident, teacher otherwise)
    and emits every answer to inference.events. The router speaks OpenAI's API
    (POST /v1/chat/completions, GET /v1/models; model "distillery:TASK" or an
    alias from [serving] model_aliases) beside POST /v1/route and GET /v1/adapters;
    concurrent requests share forward passes ([serving] max_batch, max_wait_ms).
    On a host whose cores serve only this replica, set [serving] dedicated_cores
    = true: torch's threads then spin between passes instead of sleeping (a lone
    answer about a sixth cheaper on the 2-core CPU; bench/router_bench.py).
    Every route needs a key from DISTILLERY_API_KEYS ("Authorization: Bearer KEY",
    the openai client's api_key); with none set the router listens on loopback only.
    GET /healthz and /readyz (ready: the adapter topics are replayed) stay open.
    With --vllm URL: loads each version under a new LoRA name and unloads the old
    one. Start vLLM with LoRA enabled and runtime updates allowed:
      VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve BASE --enable-lora
    and run this on a host that sees the same DATA_DIR (vLLM reads the adapter
    folder from its own disk).
    """
    for name in tasks:
        ctx.settings.task(name)  # an unknown task fails here, naming the declared ones
    # the watch output says what the subscriber and the server do; their log lines would repeat it
    logging.getLogger("distillery.serving").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    serving = ctx.settings.serving
    if serving.dedicated_cores and vllm_url is None:
        why_not = spin_threads()
        if why_not is not None:
            logging.getLogger("distillery.serving").warning("[serving] dedicated_cores: %s", why_not)
    port = serving.port if port is None else port
    try:
        run_until_signal(lambda stop: _watch(ctx.settings, list(tasks) or None, vllm_url, port,
                                             host or serving.host, stop))
    except KeyboardInterrupt:
        pass


async def _watch(settings: Settings, tasks: list[str] | None, vllm_url: str | None, port: int, host: str,
                 stop: asyncio.Event) -> None:
    from serving.adapters.display import format_note
    from serving.adapters.subscriber import AdapterSubscriber, AdapterTarget, SwapNote

    console = _console()

    def show(note: SwapNote) -> None:
        console.print(format_note(note))

    cleanup: list[Any] = []
    following: list[AdapterSubscriber] = []  # for the router's /readyz, once the subscriber exists
    target: AdapterTarget
    if vllm_url:
        from serving.adapters.vllm import VllmServer

        vllm = VllmServer(vllm_url)
        cleanup.append(vllm.aclose)
        target = vllm
        console.print(f"[dim]driving vLLM at {vllm.base_url}[/]")
    else:
        server = await _in_process(settings, tasks, port, host, show, cleanup, console, following)
        target = server
    subscriber = AdapterSubscriber(settings, [target], tasks=tasks, on_note=show)
    following.append(subscriber)
    console.print(f"[dim]following {settings.topics.published}, {settings.topics.control} and {settings.topics.drift} "
                  f"at {settings.kafka.bootstrap_servers} (Ctrl-C to stop)[/]")
    try:
        await subscriber.run(stop)
    finally:
        for close in reversed(cleanup):
            await close()


async def _in_process(settings: Settings, tasks: list[str] | None, port: int, host: str, show: Any,
                      cleanup: list[Any], console: Console, following: list[Any]) -> Any:
    from aiohttp import web

    from distillery.health import Readiness
    from distillery.webguard import Guard
    from distillery_capture import KafkaEmitter
    from serving.adapters.inprocess import InProcessServer
    from serving.adapters.subscriber import SwapNote
    from serving.http import make_app
    from serving.router import Router

    guard = Guard.from_settings(settings, "router")
    if port:
        guard.check_host(host)  # an open router on a reachable address fails here, before the model loads
    console.print("[dim]loading the student base model…[/]")
    server = await asyncio.to_thread(InProcessServer, settings, tasks=tasks)
    console.print(f"[dim]in-process: {server.base_model} on {server.device}[/]")
    server.first_answer_hooks.append(lambda task, adapter_id: show(SwapNote("first_answer", task, adapter_id)))
    if port:
        emitter = KafkaEmitter.from_settings(settings)
        # stricter with a student older than the task's latest drift alarm (the subscriber reads drift.events)
        router = Router(settings, server, emitter,
                        drift_since=lambda task: following[0].drift_since(task) if following else None)

        async def ready() -> Readiness:
            if not following or not following[0].ready.is_set():
                return Readiness(False, "replaying adapters.published and adapters.control")
            return Readiness(True, "serving the adapters the topics name",
                             {t: server.serving(t) for t in sorted(settings.tasks)})

        runner = web.AppRunner(make_app(router, server, guard=guard, ready=ready))
        await runner.setup()
        await web.TCPSite(runner, host, port).start()

        async def close() -> None:
            await runner.cleanup()
            await router.aclose()
            emitter.close()

        cleanup.append(close)
        console.print(f"[dim]routing on http://{host}:{port}/v1 (OpenAI base_url; model distillery:TASK) and "
                      f"/v1/route; answers go to {settings.topics.inference}[/]")
    return server


@adapters.command("list")
@click.option("--task", "-t", "task", default=None, help="Only this task.")
@click.pass_obj
def list_adapters(ctx: Context, task: str | None) -> None:
    """Every adapter published or rejected per task, its gold-set scores, and which one serves."""
    from distillery.adapter_history import read_book
    from serving.adapters.display import adapters_table

    console = _console()
    book = asyncio.run(read_book(ctx.settings))
    names = [task] if task else book.tasks()
    if not names:
        console.print("no adapter has been published or rejected yet")
    for name in names:
        console.print(adapters_table(book, name))


@adapters.command("pin")
@click.argument("task")
@click.argument("adapter_id")
@click.option("--note", default=None, help="Why, for the record.")
@click.option("--operator", default=None, help="Who, for the record.")
@click.pass_obj
def pin(ctx: Context, task: str, adapter_id: str, note: str | None, operator: str | None) -> None:
    """Serve ADAPTER_ID for TASK on every replica, whatever is published later (until unpin)."""
    from distillery.adapter_history import read_book

    book = asyncio.run(read_book(ctx.settings))
    known = book.published.get(adapter_id)
    if known is None or known.task != task:
        ids = ", ".join(reversed(book.state(task).history)) or "none"
        fail(f"adapter_id: {adapter_id!r} was never published for task {task!r}; published: {ids}")
    _send(ctx.settings, AdapterControl(task=task, action="pin", adapter_id=adapter_id, note=note, operator=operator))
    _console().print(f"pinned [bold]{adapter_id}[/] for {task}: every subscriber switches to it")


@adapters.command("unpin")
@click.argument("task")
@click.option("--operator", default=None, help="Who, for the record.")
@click.pass_obj
def unpin(ctx: Context, task: str, operator: str | None) -> None:
    """Lift TASK's pin: the newest published adapter serves again."""
    from distillery.adapter_history import read_book

    book = asyncio.run(read_book(ctx.settings))
    if book.state(task).pinned is None:
        fail(f"task: nothing is pinned for {task!r}; `distillery adapters list --task {task}` shows what serves")
    _send(ctx.settings, AdapterControl(task=task, action="unpin", operator=operator))
    newest = book.state(task).history[-1]
    _console().print(f"unpinned {task}: every subscriber switches to the newest adapter, [bold]{newest}[/]")


@adapters.command("rollback")
@click.argument("task")
@click.option("--note", default=None, help="Why, for the record.")
@click.option("--operator", default=None, help="Who, for the record.")
@click.pass_obj
def rollback(ctx: Context, task: str, note: str | None, operator: str | None) -> None:
    """Drop TASK's newest adapter: every replica goes back to the one before it."""
    from distillery.adapter_history import read_book

    book = asyncio.run(read_book(ctx.settings))
    previous = book.previous(task)
    history = book.state(task).history
    if previous is None:
        fail(f"task: {task!r} has {len(history)} adapter(s) in force; a rollback needs an older one to go back to")
    if book.state(task).pinned:
        _console().print(f"[yellow]note: {task} is pinned to {book.state(task).pinned}; the pin keeps serving "
                      "until `distillery adapters unpin`[/]")
    record = note or f"from {history[-1]} to {previous.adapter_id}"
    _send(ctx.settings, AdapterControl(task=task, action="rollback", note=record, operator=operator))
    _console().print(f"rolled back {task}: {history[-1]} → [bold]{previous.adapter_id}[/]")


def _send(settings: Settings, control: AdapterControl) -> None:
    from distillery.adapter_history import send_control

    asyncio.run(send_control(settings, control))


COMMANDS = [adapters]
