"""``distillery kafka`` and ``distillery topics``: the broker and the topics."""

from __future__ import annotations

import asyncio

import click
from rich.console import Console

from console.common import Context
from devkit.localkafka.broker import LocalBroker, wait_until_ready
from distillery.kafka import check_broker, ensure_topics
from distillery.settings import Settings

console = Console()


def local_broker(settings: Settings) -> LocalBroker:
    k = settings.kafka
    return LocalBroker(settings.data_dir.resolve() / "kafka", k.local_port, k.local_controller_port, k.local_heap)


@click.group("kafka")
def kafka() -> None:
    """Run the local single-node Kafka broker (KRaft, 127.0.0.1).

    The official Apache Kafka jars are resolved from Maven Central on first use and
    cached in ~/.m2; data lives under DATA_DIR/kafka. When KAFKA_BOOTSTRAP_SERVERS is
    set, these commands only check that cluster and start nothing.
    """


@kafka.command("up")
@click.option("--wait", default=120.0, show_default=True, help="Seconds to wait for the broker.")
@click.pass_obj
def up(ctx: Context, wait: float) -> None:
    """Start the broker (harmless if it runs already) and create the topics."""
    s = ctx.settings
    if s.kafka.external:
        wait_until_ready(s.kafka, wait)
        console.print(f"using external cluster {s.kafka.bootstrap_servers}; nothing started")
    else:
        broker = local_broker(s)
        with console.status("starting Kafka (first run resolves the jars with Maven)..."):
            state = broker.up(wait)
        console.print(f"kafka {state} at {broker.bootstrap}; log: {broker.log_file}")
    created = asyncio.run(ensure_topics(s))
    if created:
        console.print(f"created {len(created)} topics: {', '.join(created)}")


@kafka.command("down")
@click.pass_obj
def down(ctx: Context) -> None:
    """Stop the broker that `kafka up` started (nothing else)."""
    s = ctx.settings
    if s.kafka.external:
        console.print("external cluster: nothing to stop")
        return
    console.print(f"kafka {local_broker(s).down()}")


@kafka.command("status")
@click.pass_obj
def status(ctx: Context) -> None:
    """Say whether the broker runs and answers; exit 1 when it does not."""
    s = ctx.settings
    if not s.kafka.external:
        console.print(f"local broker: {local_broker(s).status()}")
    try:
        names = asyncio.run(check_broker(s.kafka))
    except Exception as exc:  # noqa: BLE001 - reported, not raised: this is a status command
        console.print(f"[red]{exc}[/]")
        raise SystemExit(1) from None
    ours = [t for t in names if t in set(s.topics.all())]
    console.print(f"{s.kafka.bootstrap_servers} answers; {len(ours)}/{len(s.topics.all())} topics present")


@click.group("topics")
def topics() -> None:
    """List or create the deployment's topics (prefix from the config)."""


@topics.command("create")
@click.pass_obj
def topics_create(ctx: Context) -> None:
    """Create every topic that does not exist yet."""
    created = asyncio.run(ensure_topics(ctx.settings))
    console.print(f"created: {', '.join(created) or 'none (all exist)'}")


@topics.command("list")
@click.pass_obj
def topics_list(ctx: Context) -> None:
    """Print the topic names this config uses."""
    for t in ctx.settings.topics.all():
        console.print(t)


COMMANDS = [kafka, topics]
