"""Plain connection options, without a deployment: a service's secured cluster as a KafkaConnection."""

from __future__ import annotations

import ssl
from pathlib import Path

import pydantic
import pytest

from distillery_capture import KafkaConnection, KafkaEmitter
from distillery_capture.security import client_options, describe

SCRAM = {"bootstrap_servers": "127.0.0.1:1", "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256",
         "sasl_username": "ledger", "sasl_password": "pw-7731"}


def test_a_bare_host_port_is_plaintext() -> None:
    assert client_options("k1:9092,k2:9092") == {"bootstrap_servers": "k1:9092,k2:9092",
                                                  "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_options_and_a_secret_that_never_prints() -> None:
    conn = KafkaConnection(**SCRAM)
    options = client_options(conn)
    assert (options["bootstrap_servers"], options["security_protocol"], options["sasl_mechanism"],
            options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "127.0.0.1:1", "SASL_SSL", "SCRAM-SHA-256", "ledger", "pw-7731")
    assert isinstance(options["ssl_context"], ssl.SSLContext) and options["ssl_context"].check_hostname
    assert "pw-7731" not in repr(conn) and describe(conn) == "SASL_SSL SCRAM-SHA-256 as ledger"


@pytest.mark.parametrize(("fields", "message"), [
    ({"security_protocol": "SASL_SSL"}, "needs kafka.sasl_mechanism"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
     "needs the password in the KAFKA_SASL_PASSWORD environment variable"),
    ({"sasl_mechanism": "PLAIN"}, "use SASL_SSL"),
    ({"security_protocol": "SSL", "ssl_keyfile": "k.pem"}, "without kafka.ssl_certfile"),
    ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "is not a readable file"),
    ({"bootstrap_servers": "k:9092", "partitions": 4}, "Extra inputs are not permitted"),
])
def test_incomplete_security_fails_at_construction_naming_the_setting(fields: dict[str, object],
                                                                    message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        KafkaConnection(**fields)  # type: ignore[arg-type]


def test_the_emitter_takes_a_connection(tmp_path: Path) -> None:
    em = KafkaEmitter(KafkaConnection(**SCRAM), "inference.events", backoff_s=(5.0, 5.0))
    try:
        conf = em._producer_config
        assert (conf["security_protocol"], conf["sasl_mechanism"], conf["sasl_plain_username"]) == (
            "SASL_SSL", "SCRAM-SHA-256", "ledger")
        assert (conf["acks"], conf["enable_idempotence"], em.bootstrap_servers) == ("all", True, "127.0.0.1:1")
    finally:
        em.close(0.2)
