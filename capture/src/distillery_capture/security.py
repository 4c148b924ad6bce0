"""Kafka security in one place: connection settings -> aiokafka client options.

Every Kafka client (the capture SDK's producer, and in Distillery every
aiokafka producer, consumer and admin client and the Faust app) is built from
these options, so a cluster that needs SASL_SSL with SCRAM, mutual TLS or
OAUTHBEARER is one configuration away, never a code change:

>>> client_options("kafka-1:9092,kafka-2:9092")
{'bootstrap_servers': 'kafka-1:9092,kafka-2:9092', 'security_protocol': 'PLAINTEXT'}
>>> describe(KafkaConnection(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
...                          sasl_username="svc", sasl_password="pw"))
'SASL_PLAINTEXT PLAIN as svc'

The options hold the password in clear (aiokafka needs it so); never log them.
"""

from __future__ import annotations

import importlib
import ssl
from typing import Any

from aiokafka.abc import AbstractTokenProvider
from aiokafka.helpers import create_ssl_context

from distillery_capture.connection import KafkaConnection
from distillery_capture.errors import ConfigError

PASSWORD_ENV = "KAFKA_SASL_PASSWORD"


def ssl_context(kafka: KafkaConnection) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (CA, client certificate, host name check); None otherwise."""
    if not kafka.security_protocol.endswith("SSL"):
        return None
    password = kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
    try:
        ctx = create_ssl_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None,
            certfile=str(kafka.ssl_certfile) if kafka.ssl_certfile else None,
            keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
            password=password,
        )
    except (ssl.SSLError, OSError) as exc:
        key = "kafka.ssl_certfile" if kafka.ssl_certfile else "kafka.ssl_cafile"
        raise ConfigError(f"the TLS files cannot be loaded ({exc}); check kafka.ssl_cafile, "
                          "kafka.ssl_certfile, kafka.ssl_keyfile and KAFKA_SSL_KEY_PASSWORD", key=key) from None
    ctx.check_hostname = kafka.ssl_check_hostname
    if not kafka.ssl_check_hostname:
        # without a name check a certificate is still verified against the CA
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def token_provider(path: str) -> AbstractTokenProvider:
    """Import ``module:callable`` and call it for the OAUTHBEARER token provider."""
    module_name, _, attr = path.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import {path!r} ({exc}); give an importable 'module:callable'",
                          key="kafka.sasl_oauth_token_provider") from None
    provider = factory() if not isinstance(factory, AbstractTokenProvider) else factory
    if not isinstance(provider, AbstractTokenProvider):
        raise ConfigError(f"{path!r} returned {type(provider).__name__}, not an "
                          "aiokafka.abc.AbstractTokenProvider", key="kafka.sasl_oauth_token_provider")
    return provider


def security_options(kafka: KafkaConnection) -> dict[str, Any]:
    """aiokafka keyword arguments for the cluster's security (no ``bootstrap_servers``)."""
    out: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    ctx = ssl_context(kafka)
    if ctx is not None:
        out["ssl_context"] = ctx
    if kafka.sasl_mechanism is not None:
        out["sasl_mechanism"] = kafka.sasl_mechanism
        if kafka.sasl_mechanism == "OAUTHBEARER":
            out["sasl_oauth_token_provider"] = token_provider(kafka.sasl_oauth_token_provider or "")
        else:
            out["sasl_plain_username"] = kafka.sasl_username
            out["sasl_plain_password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    return out


def client_options(kafka: KafkaConnection | str) -> dict[str, Any]:
    """Keyword arguments every aiokafka client starts from: the servers plus their security.

    A bare ``host:port`` string means an unsecured (PLAINTEXT) cluster.
    """
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka, "security_protocol": "PLAINTEXT"}
    return {"bootstrap_servers": kafka.bootstrap_servers, **security_options(kafka)}


def describe(kafka: KafkaConnection) -> str:
    """A loggable one-liner (no secret): ``SASL_SSL SCRAM-SHA-512 as distillery``."""
    parts: list[str] = [kafka.security_protocol]
    if kafka.sasl_mechanism:
        parts.append(kafka.sasl_mechanism)
        if kafka.sasl_username:
            parts.append(f"as {kafka.sasl_username}")
    return " ".join(parts)
