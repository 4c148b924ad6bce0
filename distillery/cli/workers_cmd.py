"""``distillery streams|monitors|trainer``: run one worker in the foreground."""

from __future__ import annotations

import asyncio

import click

from distillery.cli.common import Context
from distillery.kafka import ensure_topics


@click.command("streams")
@click.option("--loglevel", default="info", show_default=True)
@click.pass_obj
def streams(ctx: Context, loglevel: str) -> None:
    """Run a streams worker: validate, sample, label and store inference events.

    Start several to scale out: they share the consumer group and split the partitions.
    """
    from streams.app import run_worker

    asyncio.run(ensure_topics(ctx.settings))
    run_worker(ctx.settings, loglevel)


COMMANDS = [streams]
