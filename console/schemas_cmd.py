"""``distillery schemas``: JSON Schema files generated from the event contract."""

from __future__ import annotations

from pathlib import Path

import click

from distillery.schemas import SCHEMA_DIR, stale, write_all


@click.group("schemas")
def schemas() -> None:
    """Write or check the JSON Schemas under schemas/ (for producers in other languages)."""


@schemas.command("write")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=SCHEMA_DIR)
def write(folder: Path) -> None:
    """Regenerate every schema file from distillery/events.py."""
    for p in write_all(folder):
        click.echo(p)


@schemas.command("check")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=SCHEMA_DIR)
def check(folder: Path) -> None:
    """Exit 1 if a schema file is missing or differs from the contract."""
    bad = stale(folder)
    if bad:
        raise click.ClickException(f"stale schema files: {', '.join(bad)}; run `distillery schemas write`")
    click.echo("schemas match the contract")


COMMANDS = [schemas]
