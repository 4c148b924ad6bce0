"""Every subcommand explains itself, and bad config exits 2 naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from console import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, (*prefix, name)))
    return out


def test_every_command_has_help_that_explains() -> None:
    runner = CliRunner()
    commands = _commands(cli)
    assert ("kafka", "up") in commands and ("streams",) in commands
    for path in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert len(result.output.split("\n\n")[1].strip()) > 20, f"{' '.join(path)} --help says too little"


def test_bad_config_exits_2_with_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[tasks.t]\nkind = 'classification'\nlabels = ['a', 'b']\nlables = []\n")
    proc = subprocess.run([sys.executable, "-m", "console", "-c", str(bad), "config", "check"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "tasks.t.lables: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr
