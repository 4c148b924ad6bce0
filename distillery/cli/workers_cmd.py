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


@click.command("trainer")
@click.pass_obj
def trainer(ctx: Context) -> None:
    """Run a trainer worker: train jobs in, proven LoRA adapters out.

    Uses QLoRA (4-bit NF4) on CUDA and plain LoRA on the CPU. Each adapter is judged
    on the task's frozen gold set against the base model, the adapter in production and
    the teacher, category by category; promoted ones go to adapters.published, the rest
    to adapters.rejected with the rule that failed. Start more to train jobs in parallel.
    """
    from trainer.worker import run_worker

    run_worker(ctx.settings)


COMMANDS = [streams, trainer]
