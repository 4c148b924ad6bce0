"""``distillery config``: show or check the resolved configuration."""

from __future__ import annotations

import json

import click

from console.common import Context


@click.group("config")
def config() -> None:
    """Inspect the configuration: the TOML file plus environment overrides.

    \b
    Environment: DISTILLERY_CONFIG, KAFKA_BOOTSTRAP_SERVERS, DISTILLERY_TOPIC_PREFIX,
    DISTILLERY_DATA_DIR, DISTILLERY_ARTIFACTS, DISTILLERY_MODEL_CACHE, OPENAI_API_KEY,
    OPENAI_BASE_URL.
    Secrets are never printed.
    """


@config.command("show")
@click.pass_obj
def show(ctx: Context) -> None:
    """Print the resolved settings as JSON (API key shown only as set/unset)."""
    click.echo(json.dumps(ctx.settings.safe_dump(), indent=2))


@config.command("check")
@click.pass_obj
def check(ctx: Context) -> None:
    """Validate the config and every task spec; exit 2 naming the bad key."""
    s = ctx.settings
    click.echo(f"ok: {len(s.tasks)} task(s): {', '.join(sorted(s.tasks)) or 'none'}")


COMMANDS = [config]
