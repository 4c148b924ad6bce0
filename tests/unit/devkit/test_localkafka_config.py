"""The local broker's server.properties, with and without a SASL_SSL listener, and its cluster id (no Java started)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devkit.localkafka.broker import LocalBroker, new_cluster_id
from distillery.errors import BrokerCommandError


def _props(broker: LocalBroker) -> dict[str, str]:
    broker.write_config()
    lines = broker.config_file.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


def test_plain_broker_has_one_client_listener(tmp_path: Path) -> None:
    props = _props(LocalBroker(tmp_path, 19092, 19093))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert not any(k.startswith(("ssl.", "sasl.")) for k in props)


def test_sasl_ssl_listener_with_scram_and_a_pkcs12_keystore(tmp_path: Path) -> None:
    store = tmp_path / "broker.p12"
    store.write_bytes(b"p12")
    broker = LocalBroker(tmp_path, 19092, 19093, sasl_ssl_port=19094, keystore=store, keystore_password="ks-1",
                         scram_users=(("alice", "a-secret"),))
    props = _props(broker)
    assert props["listeners"] == ("PLAINTEXT://127.0.0.1:19092,SASL_SSL://127.0.0.1:19094,"
                                  "CONTROLLER://127.0.0.1:19093")
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092,SASL_SSL://127.0.0.1:19094"
    assert props["listener.security.protocol.map"].endswith(",SASL_SSL:SASL_SSL")
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512"
    assert props["ssl.keystore.type"] == "PKCS12" and props["ssl.keystore.location"] == str(store)
    assert broker.secure_bootstrap == "127.0.0.1:19094"
    assert "a-secret" not in repr(broker) and "ks-1" not in repr(broker)


def test_sasl_ssl_listener_without_a_keystore_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(BrokerCommandError, match="make them with devkit.localkafka.tls.local_pki"):
        LocalBroker(tmp_path, 19092, 19093, sasl_ssl_port=19094).write_config()
    with pytest.raises(BrokerCommandError, match="has no SASL_SSL listener"):
        _ = LocalBroker(tmp_path).secure_bootstrap


def test_mutual_tls_listener_requires_client_certificates_from_the_truststore(tmp_path: Path) -> None:
    store, ca = tmp_path / "broker.p12", tmp_path / "ca.pem"
    store.write_bytes(b"p12")
    ca.write_text("pem")
    broker = LocalBroker(tmp_path, 19092, 19093, keystore=store, keystore_password="ks-1", ssl_port=19095,
                         truststore=ca)
    props = _props(broker)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,SSL://127.0.0.1:19095,CONTROLLER://127.0.0.1:19093"
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert props["listener.name.ssl.ssl.truststore.location"] == str(ca) and "sasl.enabled.mechanisms" not in props
    assert broker.ssl_bootstrap == "127.0.0.1:19095"
    with pytest.raises(BrokerCommandError, match="needs truststore="):
        LocalBroker(tmp_path, 19092, 19093, keystore=store, keystore_password="ks-1", ssl_port=19095).write_config()


@given(st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=4))
def test_a_cluster_id_never_starts_with_a_dash(draws: list[bytes]) -> None:
    # kafka-storage format reads "-t -AbC..." as a missing id: the secured broker's fixture failed so (1 in 64)
    draws = [bytes([0xF8]) + bytes(15), *draws, bytes(16)]  # the first encodes with a leading "-", the last never
    it = iter(draws)
    cid = new_cluster_id(lambda: next(it))
    assert len(cid) == 22 and not cid.startswith("-")
    assert base64.urlsafe_b64decode(cid + "==") in draws[1:]
