"""``distillery streams|monitors|trainer``: run one worker in the foreground."""

from __future__ import annotations

import asyncio

import click

from console.common import Context
from distillery.kafka import ensure_topics
from distillery.settings import Settings

health_port = click.option("--health-port", type=click.IntRange(0, 65535), default=None,
                           help="Serve /healthz and /readyz on this port (default: the section's health_port; "
                                "0 = off).")
health_host = click.option("--health-host", default=None,
                           help="Address of the health server (default [http] health_host, 127.0.0.1; "
                                "0.0.0.0 in a container).")


def _with_health(settings: Settings, section: str, port: int | None, host: str | None) -> Settings:
    changes: dict[str, object] = {}
    if port is not None:
        conf = getattr(settings, section)
        changes[section] = conf.model_copy(update={"health_port": port})
    if host is not None:
        changes["http"] = settings.http.model_copy(update={"health_host": host})
    return settings.with_overrides(**changes) if changes else settings


@click.command("streams")
@click.option("--loglevel", default="info", show_default=True)
@health_port
@health_host
@click.pass_obj
def streams(ctx: Context, loglevel: str, health_port: int | None, health_host: str | None) -> None:
    """Run a streams worker: validate, sample, label and store inference events.

    Start several to scale out: they share the consumer group and split the partitions.
    With a health port, GET /healthz answers while the worker runs and GET /readyz
    once it holds its partitions and is at most [http] ready_max_lag events behind.
    """
    from streams.app import run_worker

    settings = _with_health(ctx.settings, "streams", health_port, health_host)
    asyncio.run(ensure_topics(settings))
    run_worker(settings, loglevel)


@click.command("trainer")
@health_port
@health_host
@click.pass_obj
def trainer(ctx: Context, health_port: int | None, health_host: str | None) -> None:
    """Run a trainer worker: train jobs in, proven LoRA adapters out.

    Uses QLoRA (4-bit NF4) on CUDA and plain LoRA on the CPU. Each adapter is judged
    on the task's frozen gold set against the base model, the adapter in production and
    the teacher, category by category; promoted ones go to adapters.published, the rest
    to adapters.rejected with the rule that failed. Start more to train jobs in parallel.
    With a health port, GET /healthz answers while the worker runs (training included)
    and GET /readyz once it has joined the trainer group.
    """
    from trainer.worker import run_worker

    run_worker(_with_health(ctx.settings, "trainer", health_port, health_host))


COMMANDS = [streams, trainer]
