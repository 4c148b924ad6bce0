"""Config: built once from file + environment; bad config fails naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillery.errors import ConfigError
from distillery.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]

GOOD = """
[distillery]
topic_prefix = "acme."
[tasks.tickets]
kind = "classification"
labels = ["billing", "bug", "other"]
[tasks.tickets.teacher]
model = "big"
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "d.toml"
    p.write_text(text)
    return p


def test_repo_config_is_valid() -> None:
    s = load_settings(ROOT / "distillery.toml", env={})
    assert len(s.task("transactions").labels) == 43
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092" and not s.kafka.external


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092", "DISTILLERY_TOPIC_PREFIX": "x.",
           "OPENAI_API_KEY": "sk-secret-123", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    s = load_settings(_write(tmp_path, GOOD), env=env)
    assert s.kafka.external and s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.topic_prefix == "x." and s.topics.inference == "x.inference.events"
    assert s.openai_api_key is not None and s.openai_api_key.get_secret_value() == "sk-secret-123"
    assert "sk-secret" not in repr(s) and "sk-secret" not in str(s.safe_dump())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "temprature = 0.1\n", "tasks.tickets.teacher.temprature: unknown key"),
        (GOOD.replace('"classification"', '"regression"'), "tasks.tickets.kind: input should be"),
        (GOOD.replace('["billing", "bug", "other"]', '["a"]'), "needs at least two labels"),
        (GOOD + "[tasks.tickets.sampling]\nbase_rate = 3\n", "tasks.tickets.sampling.base_rate"),
        (GOOD.replace("[distillery]", "[distillery]\nopenai_api_key = 'sk'"), "secrets never go in the file"),
        ("[kafak]\n", "[kafak]: unknown top-level table"),
        ("not = [toml", "not valid TOML"),
    ],
)
def test_bad_config_fails_with_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(path) in str(err.value)
    assert message.lower() in str(err.value).lower()


def test_named_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_unknown_task_lists_declared_ones(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, GOOD), env={})
    with pytest.raises(ConfigError, match="declared tasks: tickets"):
        s.task("nope")


def test_api_keys_come_from_the_environment_and_a_key_file_never_from_the_file(tmp_path: Path) -> None:
    keyfile = tmp_path / "keys"
    keyfile.write_text("file-key-0123456789abcdef\nshared-key-0123456789abcd\n\n")
    env = {"DISTILLERY_API_KEYS": " env-key-0123456789abcdef , shared-key-0123456789abcd,",
           "DISTILLERY_API_KEYS_FILE": str(keyfile)}
    s = load_settings(_write(tmp_path, GOOD), env=env)
    assert [k.get_secret_value() for k in s.api_keys] == [
        "env-key-0123456789abcdef", "shared-key-0123456789abcd", "file-key-0123456789abcdef"]
    dump = s.safe_dump()
    assert dump["api_keys"] == "3 set" and "0123456789" not in str(dump) and "0123456789" not in repr(s)
    assert load_settings(_write(tmp_path, GOOD), env={}).api_keys == ()


@pytest.mark.parametrize(
    ("env", "text", "message"),
    [
        ({"DISTILLERY_API_KEYS": "short"}, GOOD, "[DISTILLERY_API_KEYS]: API key #1 has fewer than 16 characters"),
        ({"DISTILLERY_API_KEYS_FILE": "/nonexistent/keys"}, GOOD,
         "[DISTILLERY_API_KEYS_FILE]: cannot read the key file '/nonexistent/keys'"),
        ({}, GOOD + "[http]\napi_keys = ['k']\n", "[http.api_keys]: secrets never go in the file"),
        ({}, GOOD + "[http]\nrate_per_s = 0\n", "http.rate_per_s: Input should be greater than 0"),
    ],
)
def test_bad_access_settings_fail_naming_the_variable(tmp_path: Path, env: dict[str, str], text: str,
                                                       message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, text), env=env)
    assert message in str(err.value)


def test_http_limits_and_health_ports_come_from_the_file(tmp_path: Path) -> None:
    text = GOOD + ("[http]\nmax_body_bytes = 4096\nprotect_metrics = true\nhealth_host = '0.0.0.0'\n"
                   "[streams]\nhealth_port = 8081\n[trainer]\nhealth_port = 8082\n")
    s = load_settings(_write(tmp_path, text), env={})
    assert (s.http.max_body_bytes, s.http.protect_metrics, s.http.health_host) == (4096, True, "0.0.0.0")
    assert (s.streams.health_port, s.trainer.health_port, s.monitors.host) == (8081, 8082, "127.0.0.1")


def test_the_store_memory_limit_is_a_number_and_a_unit(tmp_path: Path) -> None:
    assert load_settings(_write(tmp_path, GOOD), env={}).streams.store_memory_limit == "1GB"
    s = load_settings(_write(tmp_path, GOOD + "[streams]\nstore_memory_limit = '512MiB'\n"), env={})
    assert s.streams.store_memory_limit == "512MiB"
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, GOOD + "[streams]\nstore_memory_limit = \"1GB'; DROP TABLE x; --\"\n"), env={})
    assert "streams.store_memory_limit" in str(err.value) and "pattern" in str(err.value)
