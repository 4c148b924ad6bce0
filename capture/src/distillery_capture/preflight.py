"""A start-time check of the cluster's security settings, with the setting named.

aiokafka's own clients log a refused login and retry it until their timeout, then
say only "Unable to bootstrap". :func:`preflight` opens one connection the way
every client will (TLS, SASL), asks the broker for its API versions, and turns
each way of failing into an error that says which setting to fix::

    >>> asyncio.run(preflight(settings.kafka))   # doctest: +SKIP
    BrokerAuthError: [kafka.sasl_username] the broker at 10.0.0.5:9094 refused
    SCRAM-SHA-512 login as 'distillery' (SaslAuthenticationFailed: ...); check
    kafka.sasl_username and the KAFKA_SASL_PASSWORD environment variable
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka import errors as kerr
from aiokafka.conn import create_conn
from aiokafka.protocol.admin import ApiVersionRequest

from distillery_capture.connection import KafkaConnection
from distillery_capture.errors import BrokerAuthError, BrokerUnavailableError
from distillery_capture.security import PASSWORD_ENV, client_options, describe

Cluster = KafkaConnection | str
"""A cluster as its settings, or as a bare ``host:port,...`` (PLAINTEXT)."""

SASL_REFUSED = (kerr.SaslAuthenticationFailed, kerr.AuthenticationFailedError, kerr.IllegalSaslStateError)


def _hosts(servers: str) -> list[tuple[str, int]]:
    out = []
    for item in servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if host:
            out.append((host.strip("[]"), int(port)))
    return out


def _refused(kafka: Cluster, where: str, exc: BaseException) -> BrokerAuthError | None:
    """The error to raise when ``exc`` means the broker refused our TLS or SASL settings."""
    if isinstance(kafka, str):
        return None
    why = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SASL_REFUSED):
        if kafka.sasl_mechanism == "OAUTHBEARER":
            return BrokerAuthError(f"the broker at {where} refused the OAUTHBEARER token ({why}); check "
                                   "kafka.sasl_oauth_token_provider", key="kafka.sasl_oauth_token_provider")
        return BrokerAuthError(
            f"the broker at {where} refused {kafka.sasl_mechanism} login as {kafka.sasl_username!r} ({why}); "
            f"check kafka.sasl_username and the {PASSWORD_ENV} environment variable",
            key="kafka.sasl_username")
    if isinstance(exc, kerr.UnsupportedSaslMechanismError):
        return BrokerAuthError(f"the broker at {where} does not offer {kafka.sasl_mechanism} ({why}); "
                               "set kafka.sasl_mechanism to one it enables", key="kafka.sasl_mechanism")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return BrokerAuthError(
            f"the broker at {where} has a certificate this client does not trust ({why}); set "
            "kafka.ssl_cafile to the CA that signed it (or kafka.ssl_check_hostname = false when only "
            "the host name differs)", key="kafka.ssl_cafile")
    if isinstance(exc, ssl.SSLError):
        return BrokerAuthError(
            f"TLS with the broker at {where} failed ({why}); check kafka.security_protocol "
            f"(now {kafka.security_protocol}) and kafka.ssl_certfile / kafka.ssl_keyfile",
            key="kafka.security_protocol")
    return None


async def preflight(kafka: Cluster, timeout_s: float = 10.0) -> None:
    """Connect once with the configured security and ask for API versions; fail with the setting named.

    Raises :class:`BrokerAuthError` when a broker answers but refuses the TLS or
    SASL settings (not worth retrying) and :class:`BrokerUnavailableError` when
    no bootstrap server can be reached.
    """
    options: dict[str, Any] = client_options(kafka)
    servers = options.pop("bootstrap_servers")
    mode = "PLAINTEXT" if isinstance(kafka, str) else describe(kafka)
    last: BaseException | None = None
    for host, port in _hosts(servers):
        where = f"{host}:{port}"
        conn = None
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=int(timeout_s * 1000), **options), timeout_s)
            await asyncio.wait_for(conn.send(ApiVersionRequest()), timeout_s)
            return
        except (TimeoutError, OSError, kerr.KafkaError) as exc:
            refused = _refused(kafka, where, exc)
            if refused is not None:
                raise refused from None
            last = exc
        finally:
            if conn is not None:
                conn.close()
    hint = ""
    if isinstance(last, kerr.KafkaConnectionError):  # something listens, but hung up on us
        if not isinstance(kafka, str) and kafka.security_protocol.endswith("SSL") and kafka.ssl_certfile is None:
            # TLS 1.3 reports a missing client certificate only as a closed connection
            hint = ("; the broker closed the connection after TLS: if it requires a client certificate "
                    "(mutual TLS), set kafka.ssl_certfile and kafka.ssl_keyfile")
        else:
            hint = (f"; the broker closed the connection: this client speaks {mode}, so if its listener "
                    "needs TLS or SASL set kafka.security_protocol")
    raise BrokerUnavailableError(
        f"no Kafka broker answers at {servers} ({type(last).__name__}: {last}){hint}; "
        "start the local one with `distillery kafka up` or set KAFKA_BOOTSTRAP_SERVERS")
