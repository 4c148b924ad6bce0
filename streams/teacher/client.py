"""The teacher client: one labeled answer per input, through ``openai.AsyncOpenAI``.

The openai client's own retries are off (``max_retries=0``); this module retries
429s, 5xx, 408s, timeouts and connection errors itself, with exponential backoff
and full jitter (``uniform(0, min(cap, base * 2**n))``), waiting at least what a
``Retry-After`` / ``retry-after-ms`` header asks. A :class:`CircuitBreaker` turns an
outage into fast :class:`TeacherUnavailableError` failures instead of a retry
storm; 429s do not count toward it (the endpoint is up, just busy). Other 4xx
and malformed bodies fail at once with :class:`TeacherError`.

Every input is redacted again here before it is sent, so no caller can leak PII
by forgetting to. :meth:`TeacherClient.forward` sends a caller's own chat
request instead (the serving router's escalations), with the same retries,
breaker and redaction, and keeps the completion's JSON as it came. Concurrency is bounded per task by ``TeacherSpec.concurrency``
(the slot is held for the HTTP attempt only, not during backoff).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletion

from distillery.errors import ConfigError, MalformedResponseError, TeacherError, TeacherUnavailableError
from distillery.settings import Settings
from distillery.taskspec import TaskSpec
from streams.redact import Redactor
from streams.teacher.circuit import CircuitBreaker
from streams.teacher.completions import (
    TeacherResult,
    result_from_completion,
    retry_after,
    usage_result,
)
from streams.teacher.prompts import request_chars, teacher_request, teacher_system_prompt

T = TypeVar("T")

OPENAI_BASE_URL = "https://api.openai.com/v1"

__all__ = ["OPENAI_BASE_URL", "RetryPolicy", "TeacherClient", "TeacherResult"]


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff shape; the number of retries comes from ``TeacherSpec.max_retries``."""

    base_s: float = 0.5
    cap_s: float = 20.0
    max_retry_after_s: float = 60.0

    def delay(self, retry: int, rng: random.Random, hint_s: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        jitter = rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** (retry - 1)))
        if hint_s is not None:
            return max(jitter, min(hint_s, self.max_retry_after_s))
        return jitter


class TeacherClient:
    """Labels inputs of one task with its teacher model; ``async with`` closes it."""

    def __init__(
        self,
        spec: TaskSpec,
        *,
        api_key: str,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        seed: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.spec = spec
        self.base_url = spec.teacher.base_url or base_url or OPENAI_BASE_URL
        self.client = openai.AsyncOpenAI(
            api_key=api_key, base_url=self.base_url, max_retries=0, timeout=spec.teacher.timeout_s
        )
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(name=f"teacher {spec.teacher.model} at {self.base_url}")
        self.redactor = Redactor.for_task(spec)
        self.logprobs = True
        self.stats: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self.sleep = sleep
        self._sem = asyncio.Semaphore(spec.teacher.concurrency)
        self._system = teacher_system_prompt(spec)

    @classmethod
    def from_settings(cls, settings: Settings, task: str, **kwargs: Any) -> TeacherClient:
        """A client for ``task`` with the key and base URL from ``settings``."""
        spec = settings.task(task)
        base_url = spec.teacher.base_url or settings.openai_base_url
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key:
            if base_url is None:
                raise ConfigError(
                    "OPENAI_API_KEY is not set and no teacher base_url is configured; set OPENAI_API_KEY, "
                    "or OPENAI_BASE_URL for a local OpenAI-compatible endpoint",
                    key=f"tasks.{task}.teacher",
                )
            key = "unused"  # local endpoints usually ignore it, but the client needs one
        return cls(spec, api_key=key, base_url=base_url, **kwargs)

    async def __aenter__(self) -> TeacherClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.close()

    def request(self, text: str) -> dict[str, Any]:
        """The chat request for ``text`` (redacted), as sent online or in a batch line."""
        return teacher_request(self.spec, self.redactor(text).text, logprobs=self.logprobs, system=self._system)

    async def label(self, text: str) -> TeacherResult:
        """The teacher's answer for ``text``: label, confidence, usage, cost, latency."""
        request = self.request(text)
        try:
            return await self._label(request)
        except TeacherError as err:
            cause = err.__cause__
            if self.logprobs and isinstance(cause, openai.BadRequestError) and "logprobs" in str(cause).lower():
                self.logprobs = False  # this endpoint refuses logprobs: ask without, from now on
                return await self._label(self.request(text))
            raise

    async def forward(self, body: dict[str, Any]) -> tuple[dict[str, Any], TeacherResult]:
        """Send a caller's own chat request to this task's teacher model: (its completion JSON, what it says).

        The caller's messages and parameters go as they are (every text part
        redacted), but to ``TeacherSpec.model`` and never streamed (``stream``
        and ``stream_options`` are dropped). The completion comes back as the
        endpoint sent it; the :class:`TeacherResult` reads its answer as the
        task's label where it is one (the text otherwise; ``""`` for a reply
        without text, such as tool calls).
        """
        params = {k: v for k, v in body.items() if k not in ("model", "messages", "stream", "stream_options")}
        messages = [self._redact_message(m) for m in body.get("messages") or []]
        started = time.perf_counter()

        async def once() -> tuple[dict[str, Any], ChatCompletion]:
            raw = await self.client.chat.completions.with_raw_response.create(
                model=self.spec.teacher.model, messages=messages, extra_body=params or None)
            data = json.loads(raw.text)
            if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
                raise MalformedResponseError("expected a chat completion object with choices")
            return data, ChatCompletion.construct(**data)  # lenient, as the client parses its own answers

        (data, completion), attempts = await self.call(once, "chat completion")
        self.stats["forwarded"] += 1
        latency = time.perf_counter() - started
        content = getattr(completion.choices[0].message, "content", None)
        if isinstance(content, str):
            result = result_from_completion(self.spec, completion, latency_s=latency, attempts=attempts)
        else:
            result = usage_result(self.spec, completion, latency_s=latency, attempts=attempts)
        return data, result.replace(prompt_chars=sum(len(m.get("content") or "") for m in messages
                                                     if isinstance(m.get("content"), str)))

    def _redact_message(self, message: Any) -> Any:
        if not isinstance(message, dict):
            return message
        content = message.get("content")
        if isinstance(content, str):
            return {**message, "content": self.redactor(content).text}
        if isinstance(content, list):
            parts = [{**p, "text": self.redactor(p["text"]).text}
                     if isinstance(p, dict) and isinstance(p.get("text"), str) else p for p in content]
            return {**message, "content": parts}
        return message

    async def _label(self, request: dict[str, Any]) -> TeacherResult:
        started = time.perf_counter()

        async def once() -> TeacherResult:
            completion = await self.client.chat.completions.create(**request)
            if not isinstance(completion, ChatCompletion):
                raise MalformedResponseError(f"expected a chat completion object, got {type(completion).__name__}")
            return result_from_completion(self.spec, completion, latency_s=0.0, attempts=0)

        result, attempts = await self.call(once, "chat completion")
        self.stats["labels"] += 1
        return result.replace(
            latency_s=time.perf_counter() - started, attempts=attempts, prompt_chars=request_chars(request)
        )

    async def call(self, op: Callable[[], Awaitable[T]], what: str) -> tuple[T, int]:
        """Run ``op`` (one HTTP exchange) with retries, backoff and the breaker; (result, attempts)."""
        attempt = 0
        while True:
            self.breaker.before_call()
            attempt += 1
            self.stats["attempts"] += 1
            hint: float | None = None
            last: Exception
            try:
                async with self._sem:
                    result = await op()
            except openai.RateLimitError as err:
                self.breaker.release()
                hint, last = retry_after(err.response.headers), err
                self.stats["rate_limited"] += 1
            except openai.APIStatusError as err:
                if err.status_code < 500 and err.status_code != 408:
                    self.breaker.release()
                    raise TeacherError(
                        f"{what} to {self.base_url} refused with HTTP {err.status_code}: {err.message}; "
                        "check the model name, the API key and the request"
                    ) from err
                self.breaker.record_failure()
                hint, last = retry_after(err.response.headers), err
                self.stats["server_errors"] += 1
            except openai.APITimeoutError as err:
                self.breaker.record_failure()
                last = err
                self.stats["timeouts"] += 1
            except openai.APIConnectionError as err:
                self.breaker.record_failure()
                last = err
                self.stats["connection_errors"] += 1
            except (MalformedResponseError, ValueError, openai.APIResponseValidationError) as err:
                self.breaker.record_failure()
                self.stats["malformed"] += 1
                raise TeacherError(
                    f"{what} from {self.base_url}: malformed response ({err}); "
                    "check that base_url points at an OpenAI-compatible /v1 endpoint"
                ) from err
            except BaseException:
                self.breaker.release()  # cancelled or unexpected: never leave a half-open probe slot taken
                raise
            else:
                self.breaker.record_success()
                return result, attempt
            if attempt > self.spec.teacher.max_retries:
                self.stats["gave_up"] += 1
                raise TeacherUnavailableError(
                    f"{what} to {self.base_url}: gave up after {attempt} attempts; last error: "
                    f"{type(last).__name__}: {last}"
                ) from last
            self.stats["retries"] += 1
            await self.sleep(self.retry.delay(attempt, self._rng, hint))
