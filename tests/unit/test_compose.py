"""docker-compose.yml is valid Compose and runs only commands the CLI has.

No Docker engine runs here, so the file is validated against the Compose
specification's JSON Schema (the copy vendored by check-jsonschema).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner

from distillery.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def _compose_schema() -> dict[str, object]:
    spec = importlib.util.find_spec("check_jsonschema")
    assert spec is not None and spec.submodule_search_locations, (
        "check-jsonschema is needed for its vendored Compose schema; `make install` adds it"
    )
    folder = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((folder / "builtin_schemas" / "vendor" / "compose-spec.json").read_text())


def _compose() -> dict[str, object]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_follows_the_compose_specification() -> None:
    jsonschema.validate(_compose(), _compose_schema())


def test_compose_schema_catches_a_broken_file() -> None:
    broken = _compose()
    broken["services"]["kafka"]["ports"] = {"9092": "9092"}  # type: ignore[index]
    broken["services"]["streams"]["comand"] = ["distillery"]  # type: ignore[index]
    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = list(validator.iter_errors(broken))
    assert any(list(e.absolute_path) == ["services", "kafka", "ports"] for e in errors)
    assert any("'comand'" in e.message for e in errors)


def test_every_service_command_exists_in_the_cli() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    runner = CliRunner()
    checked = 0
    for name, svc in services.items():
        cmd = svc.get("command")
        if not cmd:
            continue
        assert cmd[0] == "distillery", f"service {name} runs {cmd[0]!r}, not the distillery CLI"
        result = runner.invoke(cli, [*cmd[1:], "--help"])
        assert result.exit_code == 0, f"service {name}: `{' '.join(cmd)}` is not a CLI command: {result.output}"
        checked += 1
    assert checked >= 1
