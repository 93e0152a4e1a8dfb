"""The `openai` backend: AsyncOpenAI against OpenAI or any compatible server (vLLM `serve`, llama.cpp, ...).

The SDK's own retries are off; the policy here is explicit: bounded concurrency, a request-rate limit, a timeout per
request, exponential backoff with jitter that honours `Retry-After`, and no retry on authentication or invalid-request
errors. With `stream`, the reply arrives token by token, so the wait for its first token (the server's queue and the
prompt) and its generation are timed apart. The API key is read from the environment only and never stored anywhere.
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
from famous_persona.llm.cost import count_tokens
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
# Request fields outside the OpenAI schema that some compatible servers read (sent in the body as they are).
EXTRA_BODY = ("generation_config",)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries and timeouts: `connect_timeout_s` bounds reaching the server, `timeout_s` a whole reply. Without
    streaming a server's queue and its generation cannot be told apart (concurrency adapts instead: AdaptiveGate);
    with it, `queue_timeout_s` (0: `timeout_s`) bounds the wait for the first token."""

    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    timeout_s: float = 120.0
    connect_timeout_s: float = 10.0
    queue_timeout_s: float = 0.0

    def timeout(self) -> openai.Timeout:
        return openai.Timeout(self.timeout_s, connect=min(self.connect_timeout_s, self.timeout_s))

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


class TokenBudget:
    """At most `per_minute` tokens per minute (0 = no budget), as a bucket holding ten seconds' worth: a request takes
    its prompt plus its reply's cap before it is sent, and gets back what the reply did not use."""

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = self.level = per_minute / 6.0
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self._last) * self.rate)
        self._last = now

    async def take(self, tokens: int) -> None:
        """Wait until `tokens` fit the budget (a request larger than the bucket waits for a full one)."""
        if not self.rate:
            return
        async with self._lock:
            self._refill()
            self.level -= min(tokens, self.capacity)
            wait = max(0.0, -self.level / self.rate)
        await asyncio.sleep(wait)

    def settle(self, taken: int, used: int) -> None:
        """Give back what a request took but its reply did not use."""
        if self.rate:
            self.level = min(self.capacity, self.level + min(taken, self.capacity) - min(used, self.capacity))


class AdaptiveGate:
    """Requests in flight, at most `limit`: halved (never below 1) when the server times out, says 429 or 503, and
    raised by one after `limit` replies in a row without that, back up to `most`. A server with fewer slots than the
    configured concurrency then stops turning waits in its queue into timeouts."""

    def __init__(self, most: int, adaptive: bool = True):
        self.most = self.limit = self.lowest = most
        self.adaptive, self.active, self.streak = adaptive, 0, 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> AdaptiveGate:
        async with self._changed:
            await self._changed.wait_for(lambda: self.active < self.limit)
            self.active += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self.active -= 1
            self._changed.notify_all()

    async def overloaded(self) -> None:
        if self.adaptive:
            self.limit, self.streak = max(1, self.limit // 2), 0
            self.lowest = min(self.lowest, self.limit)

    async def answered(self) -> None:
        self.streak += 1
        if self.adaptive and self.limit < self.most and self.streak >= self.limit:
            async with self._changed:
                self.limit, self.streak = self.limit + 1, 0
                self._changed.notify_all()


OVERLOAD = ("timeout", "queue_timeout", "status_429", "status_503")


class QueueTimeout(ValueError):
    """A streamed reply whose first token did not come within `queue_timeout_s`: the server kept it waiting."""


class GenerationTimeout(ValueError):
    """A streamed reply that started but did not finish within `timeout_s`: a long reply, not a busy server."""


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
    if isinstance(error, QueueTimeout):
        return "queue_timeout"
    if isinstance(error, GenerationTimeout):
        return "generation_timeout"
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
        tokens_per_minute: float = 0,
        adaptive: bool = True,
        stream: bool = False,
    ):
        self.base_url = base_url
        self.api_key_env = api_key_env
        if not (os.environ.get(api_key_env) or base_url):
            raise FatalRequestError(f"set the API key in the environment variable {api_key_env} (it is never stored)")
        self.concurrency, self.policy, self.per_minute = concurrency, policy, requests_per_minute
        self.tokens_per_minute, self.adaptive, self.stream = tokens_per_minute, adaptive, stream
        self.tally = tally or Tally()
        self.rng = random.Random(seed)

    def _client(self) -> openai.AsyncOpenAI:
        """A client for one event loop; a local server without a key gets a placeholder."""
        key = os.environ.get(self.api_key_env) or NO_KEY
        register(key)
        return openai.AsyncOpenAI(api_key=key, base_url=self.base_url, max_retries=0, timeout=self.policy.timeout())

    async def run(self, requests: Sequence[Request], on_done: OnDone) -> dict[str, str]:
        gate = self.gate = AdaptiveGate(self.concurrency, self.adaptive)
        self.limiter, self.budget = RateLimiter(self.per_minute), TokenBudget(self.tokens_per_minute)
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
            low = self.tally.lowest_concurrency
            self.tally.lowest_concurrency = min(low, gate.lowest) if low else gate.lowest
        return failures

    async def complete(self, request: Request) -> Completion:
        """One request with retries; raises RequestFailed when the budget is spent, FatalRequestError at once."""
        last = "unknown"
        tokens = count_tokens(request.messages) + int(dict(request.params).get("max_tokens") or 0)
        for attempt in range(self.policy.max_retries + 1):
            await self.limiter.wait()
            await self.budget.take(tokens)
            try:
                reply = await self._send(request)
                self.budget.settle(tokens, reply.prompt_tokens + reply.completion_tokens or tokens)
                await self.gate.answered()
                return reply
            except FATAL as error:
                raise FatalRequestError(self._explain(error)) from None
            except TRANSIENT as error:
                last = error_kind(error)
                self.tally.retries[last] += 1
                if last in OVERLOAD:
                    await self.gate.overloaded()
                if attempt < self.policy.max_retries:
                    await asyncio.sleep(self.policy.delay(attempt, self.rng, retry_after(error)))
        raise RequestFailed(f"gave up after {self.policy.max_retries + 1} attempts (last: {last})")

    async def _send(self, request: Request) -> Completion:
        params = request.sent_params()
        extra = {name: params.pop(name) for name in EXTRA_BODY if name in params}
        if self.stream:
            return await self._streamed(request, params, extra)
        response = await self.client.chat.completions.create(
            model=request.model,
            messages=request.chat(),
            timeout=self.policy.timeout(),
            extra_body=extra or None,
            **params,
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

    async def _streamed(self, request: Request, params: dict, extra: dict) -> Completion:
        """One reply token by token: the first chunk within `queue_timeout_s`, the whole within `timeout_s`."""
        started = time.monotonic()
        first_wait = self.policy.queue_timeout_s or self.policy.timeout_s

        async def opened():
            chunks = await self.client.chat.completions.create(
                model=request.model,
                messages=request.chat(),
                timeout=self.policy.timeout(),
                extra_body=extra or None,
                stream=True,
                stream_options={"include_usage": True},
                **params,
            )
            return chunks, await anext(chunks)

        try:
            chunks, chunk = await asyncio.wait_for(opened(), first_wait)
        except TimeoutError:
            raise QueueTimeout(f"no first token in {first_wait:g} s") from None
        reply = _Streamed()
        try:
            while chunk is not None:
                reply.add(chunk)
                left = max(started + self.policy.timeout_s - time.monotonic(), 0.001)
                chunk = await asyncio.wait_for(anext(chunks, None), left)
        except TimeoutError:
            raise GenerationTimeout(f"reply unfinished after {self.policy.timeout_s:g} s") from None
        finally:
            await chunks.close()
        return reply.completion()

    def _explain(self, error: openai.APIStatusError) -> str:
        """One line for a refused request, with the key and any credentials in the URL scrubbed out."""
        where = scrub(self.base_url or "the OpenAI API")
        if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            return f"{where} refused the credentials ({error.status_code}); check ${self.api_key_env}"
        message = scrub((getattr(error, "message", "") or "")[:300])
        return f"{where} rejected the request ({error.status_code}): {message} — fix the config; not retried"


class _Streamed:
    """A streamed reply as its chunks arrive: text, finish reason and the usage the last chunk may carry."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish: str | None = None
        self.usage = None

    def add(self, chunk) -> None:
        for choice in getattr(chunk, "choices", None) or []:
            self.parts.append(getattr(choice.delta, "content", None) or "")
            self.finish = choice.finish_reason or self.finish
        self.usage = getattr(chunk, "usage", None) or self.usage

    def completion(self) -> Completion:
        usage = self.usage
        return Completion(
            text="".join(self.parts),
            finish_reason=self.finish,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )
