"""Who may call Distillery's HTTP surfaces, and how much: pure rules, no I/O.

The router (``adapters watch``) and the monitors' ops page share these rules
through one aiohttp middleware (:mod:`distillery.webguard`):

* **Keys.** A request carries ``Authorization: Bearer KEY`` (or HTTP Basic with
  the key as the password, so a browser can open the ops page). The key is
  compared with every configured key in constant time (:func:`match_key`).
* **Exposure.** With no key configured, a surface may listen on a loopback
  address only (open, with a warning); on any other address it refuses to
  start (:func:`check_exposure`) unless ``[http] allow_unauthenticated`` says
  an authenticating proxy stands in front.
* **Limits.** Bodies past ``max_body_bytes`` get 413, inputs past
  ``max_input_chars`` 400, and each key (or client address, when open) a token
  bucket of ``rate_per_s`` refilled up to ``burst`` (:class:`RateLimiter`);
  past it, 429 with ``Retry-After``.

Every refusal is OpenAI's error shape (:func:`openai_error`), so the openai
client raises its own ``AuthenticationError``, ``RateLimitError``...

>>> bucket = TokenBucket(rate_per_s=2.0, burst=2)
>>> [bucket.take(now=0.0) for _ in range(3)]
[0.0, 0.0, 0.5]
>>> bucket.take(now=0.5)
0.0
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from distillery.errors import ConfigError

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
"""Paths every guard leaves open: probes carry no key."""


def openai_error(message: str, *, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape ``{"error": {"message", "type", "param", "code"}}``.

    >>> openai_error("no key", code="missing_api_key")["error"]["type"]
    'invalid_request_error'
    """
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# ------------------------------------------------------------------ keys
def credential_of(authorization: str | None) -> str | None:
    """The key an ``Authorization`` header presents: a Bearer token, or a Basic password.

    >>> credential_of("Bearer sk-1")
    'sk-1'
    >>> credential_of("Basic " + base64.b64encode(b"ops:sk-2").decode())
    'sk-2'
    >>> credential_of("Token sk-3") is None and credential_of(None) is None
    True
    """
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def match_key(presented: str, keys: Sequence[str]) -> int | None:
    """Index of the configured key equal to ``presented``, or None.

    Every key is compared (``hmac.compare_digest``, no early exit), so the time
    taken says neither how much of a key matched nor which key did.

    >>> match_key("b", ["a", "b"]), match_key("c", ["a", "b"])
    (1, None)
    """
    given = presented.encode("utf-8")
    found: int | None = None
    for i, key in enumerate(keys):
        if hmac.compare_digest(given, key.encode("utf-8")) and found is None:
            found = i
    return found


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (``127.0.0.0/8``, ``::1``, ``localhost``).

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("")
    (True, True, False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(surface: str, host: str, *, keys: int, allow_unauthenticated: bool) -> str | None:
    """Refuse an open surface on a reachable address; return a warning for an open one on loopback.

    ``surface`` names what listens (``"router"``, ``"ops page"``) for the messages.

    >>> check_exposure("router", "127.0.0.1", keys=0, allow_unauthenticated=False)[:40]
    'router on 127.0.0.1 requires no API key '
    >>> check_exposure("router", "0.0.0.0", keys=1, allow_unauthenticated=False) is None
    True
    """
    if keys:
        return None
    if is_loopback(host):
        return (f"{surface} on {host} requires no API key (loopback only); set DISTILLERY_API_KEYS "
                "before exposing it")
    if allow_unauthenticated:
        return (f"{surface} on {host} is open to the network without an API key "
                "([http] allow_unauthenticated = true: an authenticating proxy must stand in front)")
    raise ConfigError(f"{surface} would listen on {host!r} with no API key: anyone who reaches it could use it. "
                      "Set DISTILLERY_API_KEYS (comma-separated) or DISTILLERY_API_KEYS_FILE, or listen on "
                      "127.0.0.1", key="DISTILLERY_API_KEYS")


# ---------------------------------------------------------------- limits
class TokenBucket:
    """``burst`` requests at once, refilled at ``rate_per_s``; time is passed in, never read.

    :meth:`take` spends one token and returns 0.0, or returns how many seconds
    until one is available (and spends nothing).
    """

    def __init__(self, rate_per_s: float, burst: int, *, now: float = 0.0) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"rate_per_s must be > 0 and burst >= 1 (got {rate_per_s}, {burst})")
        self.rate = rate_per_s
        self.burst = burst
        self.tokens = float(burst)
        self.at = now

    def take(self, now: float) -> float:
        if now > self.at:
            self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
            self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """One :class:`TokenBucket` per caller (a key index, or a client address when open).

    At most ``max_callers`` buckets are kept; the least recently seen is dropped
    first (it comes back full, which only errs towards letting a request in).

    >>> limiter = RateLimiter(rate_per_s=1.0, burst=1, max_callers=2)
    >>> limiter.take("a", now=0.0), limiter.take("a", now=0.0), limiter.take("b", now=0.0)
    (0.0, 1.0, 0.0)
    """

    def __init__(self, rate_per_s: float, burst: int, *, max_callers: int = 10_000) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, caller: str, now: float) -> float:
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = self._buckets[caller] = TokenBucket(self.rate, self.burst, now=now)
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(caller)
        return bucket.take(now)


def retry_after_s(wait: float) -> int:
    """``Retry-After`` in whole seconds, never 0.

    >>> retry_after_s(0.01), retry_after_s(1.5)
    (1, 2)
    """
    return max(1, math.ceil(wait))


@dataclass(frozen=True)
class Denial:
    """A refused request: status, OpenAI-shaped body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def too_large(length: int, limit: int) -> Denial:
    """413 for a body past ``[http] max_body_bytes``."""
    return Denial(413, openai_error(f"request body of {length:,} bytes exceeds the limit of {limit:,} bytes "
                                    "([http] max_body_bytes)", code="request_too_large"), {})


UNREADABLE_BODY: tuple[type[BaseException], ...] = (ValueError, UnicodeDecodeError, LookupError, RecursionError)
"""What reading a request body as JSON raises on a hostile one: not JSON, not in its charset, a charset
that does not exist (``LookupError``), nesting past the parser's depth (``RecursionError``). A 400, never a 500."""


def input_too_long(length: int, limit: int, param: str) -> dict[str, Any]:
    """The 400 body for an input past ``[http] max_input_chars``.

    >>> input_too_long(20, 10, "input")["error"]["message"]
    'input: 20 characters exceeds the limit of 10 characters ([http] max_input_chars)'
    """
    return openai_error(f"{param}: {length:,} characters exceeds the limit of {limit:,} characters "
                        "([http] max_input_chars)", param=param, code="input_too_long")
