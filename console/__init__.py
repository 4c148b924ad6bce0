"""The ``distillery`` command: one entry point, a subcommand per job.

Run ``distillery --help`` for the list and ``distillery COMMAND --help`` for each
(``python -m console`` is the same command). The console sits above the workers:
it imports them, and the dev kit (:mod:`devkit`) for ``kafka up`` and ``demo``;
nothing below imports it.

Being the process's entry point, importing it first sets how torch's OpenMP
threads wait (:mod:`console.threads`), before anything loads torch.
"""

from __future__ import annotations

import logging
import sys

import click
from rich.console import Console

from console import threads  # noqa: F401  (sets the OpenMP wait policy; nothing above loads torch)
from console.common import Context, fail
from distillery.errors import DistilleryError

console = Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False),
              help="TOML config (default: $DISTILLERY_CONFIG or ./distillery.toml).")
@click.option("--verbose", "-v", is_flag=True, help="Log debug detail.")
@click.version_option(package_name="distillery")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """Distillery: continuous distillation from production traffic.

    Services emit inference events to Kafka; the streams worker samples them to a
    teacher and keeps labeled windows in DuckDB; the monitors watch for drift; the
    trainer turns windows into proven LoRA adapters that serving hot-swaps.

    \b
    Start here:
      distillery kafka up          start the local Kafka broker
      distillery streams           run a streams worker (start more to scale out)
      distillery replay FILE       send a log file as inference events
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "faust", "mode", "kafka", "httpx", "httpx2"):  # httpx2: the openai client's transport
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)
    ctx.obj = Context(config_path)


def _register() -> None:
    from console import (
        adapters_cmd,
        config_cmd,
        demo_cmd,
        gold_cmd,
        kafka_cmd,
        monitors_cmd,
        replay_cmd,
        report_cmd,
        review_cmd,
        schemas_cmd,
        workers_cmd,
    )

    for mod in (kafka_cmd, schemas_cmd, config_cmd, workers_cmd, replay_cmd, gold_cmd, report_cmd, demo_cmd,
                monitors_cmd, adapters_cmd, review_cmd):
        for command in mod.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry: turn Distillery errors into a clear message and exit code 2."""
    try:
        cli.main(prog_name="distillery", standalone_mode=False)
    except click.exceptions.Abort:
        console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DistilleryError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
