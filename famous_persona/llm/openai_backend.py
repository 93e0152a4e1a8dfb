"""The `openai` backend: AsyncOpenAI against OpenAI or any compatible server (vLLM `serve`, llama.cpp, ...).

The SDK's own retries are off; the policy here is explicit: bounded concurrency, a request-rate limit, a timeout per
request, exponential backoff with jitter that honours `Retry-After`, and no retry on authentication or invalid-request
errors. The API key is read from the environment only and never stored anywhere.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import openai

from famous_persona.llm.backend import Completion, FatalRequestError, OnDone, Request, RequestFailed, Tally
from famous_persona.redaction import register, scrub

FATAL = (
    openai.AuthenticationError,
    openai.PermissionDeniedError,
    openai.BadRequestError,
    openai.NotFoundError,
    openai.UnprocessableEntityError,
)
TRANSIENT = (openai.APIConnectionError, openai.APIStatusError, openai.APIResponseValidationError, ValueError)
NO_KEY = "no-key"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    timeout_s: float = 120.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        """Full-jitter exponential backoff (capped), but never sooner than the server asked."""
        backoff = rng.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))
        return max(backoff, retry_after or 0.0)


class RateLimiter:
    """At most `per_minute` request starts per minute, spaced evenly (0 = unlimited)."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        await asyncio.sleep(start - now)


def retry_after(error: Exception) -> float | None:
    """Seconds from a `Retry-After` (or `retry-after-ms`) header, if the error carries a response."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            return None
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def error_kind(error: Exception) -> str:
    """A short label for the retry counters, e.g. 'status_429', 'timeout', 'malformed'."""
    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.APIStatusError):
        return f"status_{error.status_code}"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    return "malformed"


class OpenAIBackend:
    """Sends requests concurrently with the explicit retry policy; see the module docstring."""

    def __init__(
        self,
        base_url: str | None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        requests_per_minute: float = 0,
        policy: RetryPolicy = RetryPolicy(),
        tally: Tally | None = None,
        seed: int = 0,
    ):
        self.base_url = base_url
        self.api_key_env = api_key_env
        if not (os.environ.get(api_key_env) or base_url):
            raise FatalRequestError(f"set the API key in the environment variable {api_key_env} (it is never stored)")
        self.concurrency, self.policy, self.per_minute = concurrency, policy, requests_per_minute
        self.tally = tally or Tally()
        self.rng = random.Random(seed)

    def _client(self) -> openai.AsyncOpenAI:
        """A client for one event loop; a local server without a key gets a placeholder."""
        key = os.environ.get(self.api_key_env) or NO_KEY
        register(key)
        return openai.AsyncOpenAI(api_key=key, base_url=self.base_url, max_retries=0, timeout=self.policy.timeout_s)

    async def run(self, requests: Sequence[Request], on_done: OnDone) -> dict[str, str]:
        gate = asyncio.Semaphore(self.concurrency)
        self.limiter = RateLimiter(self.per_minute)
        self.client = self._client()
        failures: dict[str, str] = {}

        async def one(request: Request) -> None:
            async with gate:
                try:
                    on_done(request, await self.complete(request))
                except RequestFailed as error:
                    failures[request.id] = error.reason

        tasks = [asyncio.create_task(one(request)) for request in requests]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await self.client.close()
        return failures

    async def complete(self, request: Request) -> Completion:
        """One request with retries; raises RequestFailed when the budget is spent, FatalRequestError at once."""
        last = "unknown"
        for attempt in range(self.policy.max_retries + 1):
            await self.limiter.wait()
            try:
                return await self._send(request)
            except FATAL as error:
                raise FatalRequestError(self._explain(error)) from None
            except TRANSIENT as error:
                last = error_kind(error)
                self.tally.retries[last] += 1
                if attempt < self.policy.max_retries:
                    await asyncio.sleep(self.policy.delay(attempt, self.rng, retry_after(error)))
        raise RequestFailed(f"gave up after {self.policy.max_retries + 1} attempts (last: {last})")

    async def _send(self, request: Request) -> Completion:
        params = dict(request.params)
        response = await self.client.chat.completions.create(
            model=request.model, messages=request.chat(), timeout=self.policy.timeout_s, **params
        )
        if not getattr(response, "choices", None):
            raise ValueError("reply without choices")
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    def _explain(self, error: openai.APIStatusError) -> str:
        """One line for a refused request, with the key and any credentials in the URL scrubbed out."""
        where = scrub(self.base_url or "the OpenAI API")
        if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            return f"{where} refused the credentials ({error.status_code}); check ${self.api_key_env}"
        message = scrub((getattr(error, "message", "") or "")[:300])
        return f"{where} rejected the request ({error.status_code}): {message} — fix the config; not retried"
