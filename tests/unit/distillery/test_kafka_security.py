"""Kafka security settings -> client options: validation, secrets, and every client's options."""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import types
from pathlib import Path

import faust
import pytest
from aiokafka.abc import AbstractTokenProvider
from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError

from distillery.errors import BrokerAuthError, BrokerUnavailableError, ConfigError
from distillery.kafka_security import client_options, describe, faust_options, security_options
from distillery.settings import KafkaSettings, load_settings
from distillery_capture import KafkaEmitter
from distillery_capture.preflight import _refused, preflight

SCRAM = {"KAFKA_BOOTSTRAP_SERVERS": "k1:9094,k2:9094", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
         "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "pw-93kq"}


def _load(tmp_path: Path, kafka_table: str = "", env: dict[str, str] | None = None) -> KafkaSettings:
    path = tmp_path / "d.toml"
    path.write_text(f"[kafka]\n{kafka_table}\n")
    return load_settings(path, env=env or {}).kafka


def test_environment_sets_sasl_ssl_and_secrets_never_show(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text("[kafka]\n")
    s = load_settings(path, env={**SCRAM, "KAFKA_SSL_KEY_PASSWORD": "kp-55"})
    k = s.kafka
    assert (k.security_protocol, k.sasl_mechanism, k.sasl_username) == ("SASL_SSL", "SCRAM-SHA-512", "svc")
    assert k.sasl_password is not None and k.sasl_password.get_secret_value() == "pw-93kq"
    shown = json.dumps(s.safe_dump())  # what `config show` prints
    assert s.safe_dump()["kafka"]["sasl_password"] == "set" and s.safe_dump()["kafka"]["ssl_key_password"] == "set"
    for secret in ("pw-93kq", "kp-55"):
        assert secret not in shown and secret not in repr(s) and secret not in describe(k)
    assert describe(k) == "SASL_SSL SCRAM-SHA-512 as svc"


@pytest.mark.parametrize(
    ("table", "env", "message"),
    [
        ('security_protocol = "SASL_SSL"', {}, "security_protocol=SASL_SSL needs kafka.sasl_mechanism"),
        ('security_protocol = "SASL_SSL"\nsasl_mechanism = "PLAIN"', {"KAFKA_SASL_PASSWORD": "pw-93kq"},
         "sasl_mechanism=PLAIN needs kafka.sasl_username"),
        ('security_protocol = "SASL_SSL"\nsasl_mechanism = "SCRAM-SHA-256"\nsasl_username = "svc"', {},
         "needs the password in the KAFKA_SASL_PASSWORD environment variable"),
        ('sasl_mechanism = "PLAIN"\nsasl_username = "svc"', {"KAFKA_SASL_PASSWORD": "pw-93kq"},
         "kafka.sasl_* is set but security_protocol=PLAINTEXT"),
        ('security_protocol = "SASL_SSL"\nsasl_mechanism = "OAUTHBEARER"', {},
         "needs kafka.sasl_oauth_token_provider as 'module:callable'"),
        ('ssl_cafile = "/etc/ca.pem"', {}, "kafka.ssl_* files are set but security_protocol=PLAINTEXT"),
        ('security_protocol = "SSL"\nssl_cafile = "/no/such/ca.pem"', {}, "kafka.ssl_cafile '/no/such/ca.pem' is not"),
        ('security_protocol = "SSL"\nsasl_password = "pw-93kq"', {}, "[kafka.sasl_password]: secrets never go"),
        ('security_protocol = "SSL"\nssl_key_password = "x"', {}, "set KAFKA_SSL_KEY_PASSWORD in the environment"),
        ('security_protocol = "TLS"', {}, "kafka.security_protocol: Input should be"),
    ],
)
def test_incomplete_security_fails_naming_the_setting(tmp_path: Path, table: str, env: dict[str, str],
                                                     message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, table, env)
    assert message in str(caught.value)
    assert "pw-93kq" not in str(caught.value)  # a whole-table error never echoes the table


def test_mtls_keyfile_needs_certfile(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("x")
    with pytest.raises(ConfigError, match="kafka.ssl_keyfile is set without kafka.ssl_certfile"):
        _load(tmp_path, f'security_protocol = "SSL"\nssl_keyfile = "{key}"')


def test_plaintext_options_are_the_servers_alone() -> None:
    assert client_options(KafkaSettings()) == {"bootstrap_servers": "127.0.0.1:9092",
                                               "security_protocol": "PLAINTEXT"}
    assert client_options("h:1") == {"bootstrap_servers": "h:1", "security_protocol": "PLAINTEXT"}
    assert faust_options(KafkaSettings(bootstrap_servers="a:1, b:2")) == {
        "broker": "kafka://a:1;kafka://b:2", "broker_credentials": None}


def test_sasl_ssl_scram_options(tmp_path: Path) -> None:
    k = _load(tmp_path, env=SCRAM)
    opts = client_options(k)
    ctx = opts.pop("ssl_context")
    assert opts == {"bootstrap_servers": "k1:9094,k2:9094", "security_protocol": "SASL_SSL",
                    "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "svc", "sasl_plain_password": "pw-93kq"}
    assert isinstance(ctx, ssl.SSLContext) and ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    creds = faust_options(k)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.protocol.value, creds.mechanism.value, creds.username) == ("SASL_SSL", "SCRAM-SHA-512", "svc")
    assert "pw-93kq" not in repr(creds)


def test_sasl_plaintext_has_no_tls_and_ssl_alone_has_no_sasl(tmp_path: Path) -> None:
    k = _load(tmp_path, env={**SCRAM, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN"})
    assert "ssl_context" not in security_options(k) and security_options(k)["sasl_mechanism"] == "PLAIN"
    assert faust_options(k)["broker_credentials"].protocol.value == "SASL_PLAINTEXT"
    tls = _load(tmp_path, 'security_protocol = "SSL"\nssl_check_hostname = false')
    opts = security_options(tls)
    assert set(opts) == {"security_protocol", "ssl_context"}
    assert not opts["ssl_context"].check_hostname and opts["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert isinstance(faust_options(tls)["broker_credentials"], faust.SSLCredentials)


def test_unreadable_tls_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    k = _load(tmp_path, f'security_protocol = "SSL"\nssl_cafile = "{bad}"')
    with pytest.raises(ConfigError, match="the TLS files cannot be loaded"):
        client_options(k)


class _Tokens(AbstractTokenProvider):
    async def token(self) -> str:
        return "tok"


def test_oauthbearer_token_provider_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("acme_tokens")
    module.make = _Tokens  # type: ignore[attr-defined]
    module.wrong = dict  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "acme_tokens", module)
    k = _load(tmp_path, 'security_protocol = "SASL_SSL"\nsasl_mechanism = "OAUTHBEARER"\n'
                        'sasl_oauth_token_provider = "acme_tokens:make"')
    opts = security_options(k)
    assert isinstance(opts["sasl_oauth_token_provider"], _Tokens) and "sasl_plain_password" not in opts
    assert isinstance(faust_options(k)["broker_credentials"], faust.OAuthCredentials)
    for path, message in (("acme_tokens:wrong", "returned dict, not an aiokafka"),
                          ("acme_tokens:nope", "cannot import 'acme_tokens:nope'")):
        bad = k.model_copy(update={"sasl_oauth_token_provider": path})
        with pytest.raises(ConfigError, match=message) as caught:
            security_options(bad)
        assert caught.value.key == "kafka.sasl_oauth_token_provider"


def test_refusals_name_the_setting(tmp_path: Path) -> None:
    k = _load(tmp_path, env=SCRAM)
    sasl = _refused(k, "k1:9094", SaslAuthenticationFailed("invalid credentials"))
    assert isinstance(sasl, BrokerAuthError) and sasl.key == "kafka.sasl_username"
    assert "KAFKA_SASL_PASSWORD" in str(sasl) and "pw-93kq" not in str(sasl)
    mech = _refused(k, "k1:9094", UnsupportedSaslMechanismError())
    assert mech is not None and mech.key == "kafka.sasl_mechanism"
    cert = _refused(k, "k1:9094", ssl.SSLCertVerificationError("self-signed certificate"))
    assert cert is not None and cert.key == "kafka.ssl_cafile"
    assert _refused(k, "k1:9094", ConnectionRefusedError()) is None
    assert _refused("k1:9094", "k1:9094", SaslAuthenticationFailed()) is None


def test_preflight_without_a_broker_is_unavailable_not_auth() -> None:
    with pytest.raises(BrokerUnavailableError, match="no Kafka broker answers at 127.0.0.1:1"):
        asyncio.run(preflight(KafkaSettings(bootstrap_servers="127.0.0.1:1"), timeout_s=2))


def test_capture_emitter_takes_the_same_security(tmp_path: Path) -> None:
    em = KafkaEmitter(_load(tmp_path, env={**SCRAM, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}), "inference.events",
                      producer_config={"linger_ms": 50}, backoff_s=(5.0, 5.0))
    try:
        conf = em._producer_config
        assert (conf["security_protocol"], conf["sasl_mechanism"], conf["sasl_plain_username"]) == (
            "SASL_SSL", "SCRAM-SHA-512", "svc")
        assert isinstance(conf["ssl_context"], ssl.SSLContext) and conf["linger_ms"] == 50
        assert em.bootstrap_servers == "127.0.0.1:1"
    finally:
        em.close(0.2)


def test_config_show_prints_the_kafka_secrets_only_as_set(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from console import cli

    path = tmp_path / "d.toml"
    path.write_text("[kafka]\n")
    result = CliRunner().invoke(cli, ["-c", str(path), "config", "show"],
                                env={**SCRAM, "KAFKA_SSL_KEY_PASSWORD": "kp-55"})
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)["kafka"]
    assert (shown["sasl_username"], shown["sasl_password"], shown["ssl_key_password"]) == ("svc", "set", "set")
    assert "pw-93kq" not in result.output and "kp-55" not in result.output
