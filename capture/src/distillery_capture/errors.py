"""The root of Distillery's one exception hierarchy, and the errors the capture SDK raises.

The SDK owns these so it installs alone; :mod:`distillery.errors` builds the
rest of the hierarchy on them and re-exports them, so ``except DistilleryError``
catches the SDK's errors as it catches every worker's. Every subclass also
inherits the builtin it stands for; messages name the key, show the bad value
and say the fix.

>>> issubclass(BrokerAuthError, ConfigError) and issubclass(ConfigError, ValueError)
True
>>> str(ConfigError("expected at least 1, got 0", key="max_queue"))
'[max_queue]: expected at least 1, got 0'
"""

from __future__ import annotations


class DistilleryError(Exception):
    """Base of every error Distillery raises on purpose."""


class ConfigError(DistilleryError, ValueError):
    """The configuration file or environment is wrong; raised once, at start."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        self.source = source
        self.key = key
        where = " ".join(p for p in (source, f"[{key}]" if key else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


class BrokerUnavailableError(DistilleryError, ConnectionError):
    """No Kafka broker answers at the configured bootstrap servers."""


class BrokerAuthError(ConfigError):
    """The broker answers but refuses this client's TLS or SASL settings; never retried."""
