"""How to reach a Kafka cluster: the servers and the security the client speaks (TLS, SASL).

Plain connection options, nothing of a deployment: a service that captures its
calls builds one of these (or passes a bare ``host:port``), and Distillery's own
``[kafka]`` settings (:class:`distillery.settings.KafkaSettings`) extend it with
how the local broker is run. Every setting that makes no sense alone fails at
construction, saying which one is missing.

>>> KafkaConnection(bootstrap_servers="kafka:9092").security_protocol
'PLAINTEXT'
>>> KafkaConnection(security_protocol="SASL_SSL")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for KafkaConnection
  Value error, security_protocol=SASL_SSL needs kafka.sasl_mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER) ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class KafkaConnection(BaseModel):
    """A cluster's bootstrap servers and the security its clients speak."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    # ---- security (issue #14): turned into client options by distillery_capture.security only
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(default=None, description="From KAFKA_SASL_PASSWORD only.")
    sasl_oauth_token_provider: str | None = Field(
        default=None, description="'module:callable' returning an aiokafka AbstractTokenProvider (OAUTHBEARER).")
    ssl_cafile: Path | None = Field(default=None, description="CA bundle that signed the brokers' certificates.")
    ssl_certfile: Path | None = Field(default=None, description="Client certificate (PEM) for mutual TLS.")
    ssl_keyfile: Path | None = Field(default=None, description="Client private key (PEM) for mutual TLS.")
    ssl_key_password: SecretStr | None = Field(default=None, description="From KAFKA_SSL_KEY_PASSWORD only.")
    ssl_check_hostname: bool = Field(default=True, description="Check the broker certificate's host name.")

    @model_validator(mode="after")
    def _security_is_complete(self) -> Self:
        """Every security setting that makes no sense alone fails here, saying which one is missing."""
        sasl = self.security_protocol.startswith("SASL_")
        tls = self.security_protocol.endswith("SSL")
        if sasl and self.sasl_mechanism is None:
            raise ValueError(f"security_protocol={self.security_protocol} needs kafka.sasl_mechanism "
                             "(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)")
        if not sasl and (self.sasl_mechanism or self.sasl_username or self.sasl_oauth_token_provider):
            raise ValueError(f"kafka.sasl_* is set but security_protocol={self.security_protocol}; "
                             "use SASL_SSL (or SASL_PLAINTEXT) to authenticate with SASL")
        if self.sasl_mechanism == "OAUTHBEARER":
            if not self.sasl_oauth_token_provider or ":" not in self.sasl_oauth_token_provider:
                raise ValueError("sasl_mechanism=OAUTHBEARER needs kafka.sasl_oauth_token_provider "
                                 "as 'module:callable'")
        elif self.sasl_mechanism is not None:
            if not self.sasl_username:
                raise ValueError(f"sasl_mechanism={self.sasl_mechanism} needs kafka.sasl_username "
                                 "(or KAFKA_SASL_USERNAME)")
            if self.sasl_password is None:
                raise ValueError(f"sasl_mechanism={self.sasl_mechanism} needs the password in "
                                 "the KAFKA_SASL_PASSWORD environment variable")
        if not tls and (self.ssl_cafile or self.ssl_certfile or self.ssl_keyfile):
            raise ValueError(f"kafka.ssl_* files are set but security_protocol={self.security_protocol}; "
                             "use SSL or SASL_SSL")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("kafka.ssl_keyfile is set without kafka.ssl_certfile; mutual TLS needs both")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"kafka.{name} {str(path)!r} is not a readable file")
        return self
