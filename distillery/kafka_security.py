"""Kafka security in one place: ``[kafka]`` settings -> client options.

Every Kafka client in the project (aiokafka producers, consumers and admin
clients, the Faust app, the capture wrapper) is built from these options, so a
cluster that needs SASL_SSL with SCRAM, mutual TLS or OAUTHBEARER is one
configuration away, never a code change::

    [kafka]
    security_protocol = "SASL_SSL"
    sasl_mechanism = "SCRAM-SHA-512"
    sasl_username = "distillery"
    ssl_cafile = "/etc/kafka/ca.pem"      # omit to trust the system CAs
    # the password comes from KAFKA_SASL_PASSWORD, never from the file

The builder itself (:func:`client_options` and its parts) is the capture SDK's,
:mod:`distillery_capture.security`, re-exported here; this module adds Faust's form.
The options hold the password in clear (aiokafka needs it so); never log them.
"""

from __future__ import annotations

from typing import Any

from distillery.settings import KafkaSettings

# The options builder is the capture SDK's (its producer needs it without the rest of Distillery);
# re-exported here, where the workers have always imported it, with the Faust options beside it.
from distillery_capture.security import (  # noqa: F401 - re-exported
    PASSWORD_ENV,
    client_options,
    describe,
    security_options,
    ssl_context,
    token_provider,
)


def faust_broker_url(bootstrap: str) -> str:
    """``host:port,host:port`` as Faust's ``kafka://host:port;kafka://host:port``."""
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip())


def faust_options(kafka: KafkaSettings) -> dict[str, Any]:
    """``broker`` and ``broker_credentials`` for ``faust.App(...)`` (its consumer, producer and admin)."""
    import faust

    ctx = ssl_context(kafka)
    creds: Any = None
    if kafka.sasl_mechanism == "OAUTHBEARER":
        creds = faust.OAuthCredentials(oauth_cb=token_provider(kafka.sasl_oauth_token_provider or ""),
                                       ssl_context=ctx)
    elif kafka.sasl_mechanism is not None:
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        creds = faust.SASLCredentials(username=kafka.sasl_username, password=password,
                                      ssl_context=ctx, mechanism=kafka.sasl_mechanism)
    elif ctx is not None:
        creds = faust.SSLCredentials(ctx)
    return {"broker": faust_broker_url(kafka.bootstrap_servers), "broker_credentials": creds}
