"""The Helm chart lints, renders valid Kubernetes objects (kubeconform, offline schemas) and runs every service.

No cluster runs here: ``helm lint`` and ``helm template`` check the chart, and
kubeconform validates what it renders against the Kubernetes JSON schemas made by
``make tools`` (deploy/tools/k8s_schemas.py, from the kubernetes-validate wheel).
The tools live under .tools/; the tests fail, never skip, when they are missing.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from console import cli
from distillery.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "distillery"
TOOLS = ROOT / ".tools"
K8S_VERSION = "1.34.0"
KEY = "chart-key-0123456789abcdef"
REQUIRED = ["--set", r"kafka.bootstrapServers=kafka-0.kafka:9092\,kafka-1.kafka:9092",  # helm's --set escapes commas
            "--set-string", f"apiKeys[0]={KEY}", "--set-string", "openai.apiKey=sk-teacher"]


def _tool(name: str) -> str:
    path = TOOLS / "bin" / name
    assert path.is_file(), f"{name} is not installed at {path}: run `make tools` (part of `make install`)"
    return str(path)


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    # a helm built by `go install` assumes Kubernetes 1.20 (releases stamp a newer one): name the target
    return _run(_tool("helm"), *args, "--kube-version", K8S_VERSION)


def _render(*values: str) -> str:
    done = _helm("template", "demo", str(CHART), *values)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _objects(*values: str) -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(_render(*values)) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def _kubeconform(manifests: str) -> subprocess.CompletedProcess[str]:
    schemas = TOOLS / "k8s-schemas"
    assert (schemas / f"v{K8S_VERSION}-standalone-strict" / "deployment-apps-v1.json").is_file(), (
        f"no Kubernetes schemas under {schemas}: run `make tools`")
    location = f"{schemas}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}/" \
               "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    return _run(_tool("kubeconform"), "-strict", "-summary", "-kubernetes-version", K8S_VERSION,
                "-schema-location", location, "-", stdin=manifests)


def test_the_chart_lints() -> None:
    done = _helm("lint", "--strict", str(CHART), *REQUIRED)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


def test_the_chart_refuses_to_render_without_kafka_or_keys() -> None:
    done = _helm("template", "demo", str(CHART), "--set-string", f"apiKeys[0]={KEY}")
    assert done.returncode != 0 and "kafka.bootstrapServers is required" in done.stderr
    done = _helm("template", "demo", str(CHART), "--set", "kafka.bootstrapServers=k:9092")
    assert done.returncode != 0 and "apiKeys (or existingSecret) is required" in done.stderr


def test_every_rendered_object_is_valid_kubernetes() -> None:
    for values in ([], ["--set", "trainer.gpus=0", "--set", "artifacts.uri=s3://bucket/distillery",
                        "--set", "existingSecret=my-keys"]):
        done = _kubeconform(_render(*REQUIRED, *values))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Invalid: 0, Errors: 0, Skipped: 0" in done.stdout, done.stdout


def test_kubeconform_catches_a_broken_object() -> None:
    broken = _render(*REQUIRED).replace("containerPort: 8000", 'containerPort: "eight thousand"')
    broken = broken.replace("replicas: 1\n", "replicas: 1\n  replcias: 2\n", 1)
    done = _kubeconform(broken)
    assert done.returncode != 0
    assert "containerPort" in done.stdout and "replcias" in done.stdout, done.stdout


def test_every_service_runs_with_probes_on_its_health_endpoints() -> None:
    objects = _objects(*REQUIRED)
    deployments = {name.removeprefix("demo-distillery-"): d for (kind, name), d in objects.items()
                   if kind == "Deployment"}
    assert sorted(deployments) == ["monitors", "serving", "streams", "trainer"]
    runner = CliRunner()
    for name, dep in deployments.items():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        assert args[0] == "distillery"
        assert runner.invoke(cli, [*args[1:], "--help"]).exit_code == 0, f"{name}: {args} is not a CLI command"
        ports = {p["name"] for p in container["ports"]}
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["port"] in ports, name
        env = {e["name"]: e for e in container["env"]}
        assert env["KAFKA_BOOTSTRAP_SERVERS"]["value"] == "kafka-0.kafka:9092,kafka-1.kafka:9092"
        assert env["DISTILLERY_API_KEYS_FILE"]["value"] == "/var/run/secrets/distillery/api-keys"
        assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "openai-api-key"
        assert env["DISTILLERY_ARTIFACTS"]["value"] == "/artifacts"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/etc/distillery", "/var/run/secrets/distillery", "/data", "/artifacts"} <= mounts, name
    trainer = deployments["trainer"]["spec"]["template"]["spec"]["containers"][0]
    assert trainer["resources"]["limits"]["nvidia.com/gpu"] == 1
    services = {name.removeprefix("demo-distillery-"): s for (kind, name), s in objects.items() if kind == "Service"}
    assert sorted(services) == ["monitors", "serving"]
    for name, svc in services.items():
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= pod_labels.items(), name
    assert ("PersistentVolumeClaim", "demo-distillery-artifacts") in objects


def test_the_secret_holds_the_keys_and_the_config_map_a_valid_distillery_toml(tmp_path: Path) -> None:
    objects = _objects(*REQUIRED, "--set-string", "apiKeys[1]=second-key-0123456789abcd")
    secret = objects[("Secret", "demo-distillery")]["data"]
    assert base64.b64decode(secret["api-keys"]).decode() == f"{KEY}\nsecond-key-0123456789abcd"
    assert base64.b64decode(secret["openai-api-key"]).decode() == "sk-teacher"
    toml = objects[("ConfigMap", "demo-distillery")]["data"]["distillery.toml"]
    (tmp_path / "distillery.toml").write_text(toml)
    (tmp_path / "api-keys").write_text(base64.b64decode(secret["api-keys"]).decode())
    settings = load_settings(tmp_path / "distillery.toml", env={
        "DISTILLERY_API_KEYS_FILE": str(tmp_path / "api-keys"), "KAFKA_BOOTSTRAP_SERVERS": "k:9092"})
    assert settings.http.health_host == "0.0.0.0" and len(settings.api_keys) == 2
    assert "transactions" in settings.tasks


def test_cpu_trainers_and_an_object_store_change_only_what_they_should() -> None:
    objects = _objects(*REQUIRED, "--set", "trainer.gpus=0", "--set", "artifacts.uri=s3://bucket/distillery",
                       "--set", "existingSecret=my-keys")
    trainer = objects[("Deployment", "demo-distillery-trainer")]["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in trainer["containers"][0]["resources"]["limits"]
    assert not any(kind == "PersistentVolumeClaim" for kind, _ in objects)
    assert not any(kind == "Secret" for kind, _ in objects)  # the operator's own Secret is used
    env = {e["name"]: e for e in trainer["containers"][0]["env"]}
    assert env["DISTILLERY_ARTIFACTS"]["value"] == "s3://bucket/distillery"
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "my-keys"


def test_a_secured_cluster_reaches_every_worker_with_the_password_only_in_the_secret() -> None:
    secured = [*REQUIRED, "--set", "kafka.securityProtocol=SASL_SSL", "--set", "kafka.saslMechanism=SCRAM-SHA-512",
               "--set", "kafka.saslUsername=distillery", "--set-string", "kafka.saslPassword=pw-0123456789",
               "--set", "kafka.caSecret=kafka-ca"]
    manifests = _render(*secured)
    done = _kubeconform(manifests)
    assert done.returncode == 0, done.stdout + done.stderr
    objects = _objects(*secured)
    secret = objects[("Secret", "demo-distillery")]
    assert base64.b64decode(secret["data"]["kafka-sasl-password"]).decode() == "pw-0123456789"
    assert "pw-0123456789" not in json.dumps(objects[("ConfigMap", "demo-distillery")])
    deployments = [d for (kind, _), d in objects.items() if kind == "Deployment"]
    assert len(deployments) == 4
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert env["KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_USERNAME"]["value"] == "distillery"
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "demo-distillery",
                                                                            "key": "kafka-sasl-password"}
        assert env["KAFKA_SSL_CAFILE"]["value"] == "/var/run/secrets/kafka-ca/ca.pem"
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["kafka-ca"] == "/var/run/secrets/kafka-ca"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["kafka-ca"]["secret"]["secretName"] == "kafka-ca"
    plain = _objects(*REQUIRED)
    pod = plain[("Deployment", "demo-distillery-streams")]["spec"]["template"]["spec"]
    assert not any(e["name"].startswith("KAFKA_S") for e in pod["containers"][0]["env"])
