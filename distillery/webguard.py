"""The one aiohttp middleware that applies :mod:`distillery.access` to a whole application.

Every HTTP surface builds its application with :meth:`Guard.application`, so
every route on it, including routes added later, needs a key, respects the
body cap and the rate limit; only ``/healthz``, ``/readyz`` (and ``/metrics``
unless ``[http] protect_metrics``) stay open. Refusals are OpenAI-shaped JSON.
Keys are never logged: a caller is named ``key#N`` (its place in the list).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiohttp import web

from distillery.access import (
    HEALTH_PATHS,
    Denial,
    RateLimiter,
    check_exposure,
    credential_of,
    match_key,
    openai_error,
    retry_after_s,
    too_large,
)
from distillery.settings import HttpSettings, Settings

log = logging.getLogger("distillery.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Guard:
    """Keys, body cap and per-caller rate limit for one HTTP surface.

    Parameters
    ----------
    keys
        The accepted API keys (empty: open; :meth:`check_host` decides where that is allowed).
    conf
        Limits from ``[http]``.
    surface
        What this guards, for messages (``"router"``, ``"ops page"``).
    open_paths
        Paths served without a key, beside ``/healthz`` and ``/readyz``.
    browser
        Answer 401 with a Basic challenge, so a browser asks for the key (as the password).
    clock
        Monotonic seconds (tests pass their own).
    """

    def __init__(self, keys: Sequence[str], conf: HttpSettings, *, surface: str,
                 open_paths: Iterable[str] = (), browser: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.keys = list(keys)
        self.conf = conf
        self.surface = surface
        self.open_paths = HEALTH_PATHS | frozenset(open_paths)
        self.browser = browser
        self.clock = clock
        self.limiter = RateLimiter(conf.rate_per_s, conf.burst)

    @classmethod
    def from_settings(cls, settings: Settings, surface: str, *, browser: bool = False,
                      clock: Callable[[], float] = time.monotonic) -> Guard:
        """The guard ``settings`` describe; ``/metrics`` is open unless ``[http] protect_metrics``."""
        keys = [k.get_secret_value() for k in settings.api_keys]
        open_paths = () if settings.http.protect_metrics else ("/metrics",)
        return cls(keys, settings.http, surface=surface, open_paths=open_paths, browser=browser, clock=clock)

    def check_host(self, host: str, surface: str | None = None) -> None:
        """Before binding ``host``: refuse an open surface on a reachable address, warn on loopback."""
        warning = check_exposure(surface or self.surface, host, keys=len(self.keys),
                                 allow_unauthenticated=self.conf.allow_unauthenticated)
        if warning:
            log.warning(warning)

    def application(self) -> web.Application:
        """A new aiohttp application with this guard in front of every route."""
        return web.Application(client_max_size=self.conf.max_body_bytes, middlewares=[self.middleware])

    # ------------------------------------------------------------ checks
    def _deny(self, denial: Denial) -> web.Response:
        return web.json_response(denial.body, status=denial.status, headers=denial.headers)

    def _unauthorized(self, message: str, code: str) -> web.Response:
        challenge = f'Basic realm="Distillery {self.surface}", charset="UTF-8"' if self.browser else \
            'Bearer realm="distillery"'
        return self._deny(Denial(401, openai_error(message, code=code), {"WWW-Authenticate": challenge}))

    def _limited(self, caller: str, shown: str) -> web.Response | None:
        wait = self.limiter.take(caller, self.clock())
        if wait <= 0:
            return None
        after = retry_after_s(wait)
        message = (f"rate limit reached for {shown}: {self.conf.rate_per_s:g} requests/s, burst "
                   f"{self.conf.burst} ([http] rate_per_s, burst); retry after {after} s")
        return self._deny(Denial(429, openai_error(message, type_="requests", code="rate_limit_exceeded"),
                                 {"Retry-After": str(after)}))

    def authenticate(self, request: web.Request) -> tuple[str | None, web.Response | None]:
        """The caller's name (``key#N``, or ``addr:IP`` when open) or a 401/429 answer."""
        address = f"addr:{request.remote or 'unknown'}"
        if not self.keys:
            return address, None
        presented = credential_of(request.headers.get("Authorization"))
        index = match_key(presented, self.keys) if presented is not None else None
        if index is not None:
            return f"key#{index + 1}", None
        # failed attempts spend the client address's bucket: guessing keys is rate-limited too
        refused = self._limited(address, f"client {request.remote}")
        if refused is not None:
            return None, refused
        if presented is None:
            return None, self._unauthorized(
                f"missing API key for the {self.surface}: send the header 'Authorization: Bearer KEY' with a key "
                "from DISTILLERY_API_KEYS", "missing_api_key")
        return None, self._unauthorized(f"incorrect API key provided to the {self.surface}", "invalid_api_key")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in self.open_paths:
            return await handler(request)
        caller, refused = self.authenticate(request)
        if refused is not None or caller is None:
            return refused or self._unauthorized("unauthorized", "invalid_api_key")
        length = request.content_length
        if length is not None and length > self.conf.max_body_bytes:
            return self._deny(too_large(length, self.conf.max_body_bytes))
        limited = self._limited(caller, caller)
        if limited is not None:
            return limited
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge as exc:  # a chunked body without Content-Length, read past the cap
            actual = getattr(exc, "actual_size", None) or self.conf.max_body_bytes + 1
            return self._deny(too_large(int(actual), self.conf.max_body_bytes))
