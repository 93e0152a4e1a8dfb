"""What every LLM backend shares: requests, completions, the cache-first runner, failures and the running tally."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from famous_persona.errors import DataError


class FatalRequestError(DataError):
    """A request the server refuses for a reason retrying cannot fix (bad key, bad request): stop with a message."""


class RequestFailed(Exception):
    """A request that used up its retry budget; the caller leaves its item out and reports it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Request:
    """One chat completion: `sample` numbers independent draws of the same prompt (and re-asks)."""

    id: str
    model: str
    messages: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, Any], ...] = ()
    sample: int = 0

    @property
    def key(self) -> str:
        """Hash of everything that determines the reply; the id is a label and not part of it."""
        payload = {"model": self.model, "messages": self.messages, "params": self.params, "sample": self.sample}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def chat(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


def make_request(rid: str, model: str, messages: Sequence[tuple[str, str]], params: dict, sample: int = 0) -> Request:
    return Request(rid, model, tuple(messages), tuple(sorted(params.items())), sample)


@dataclass
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False

    @property
    def usable(self) -> bool:
        """Empty or cut-off replies are finished requests but not usable answers."""
        return bool(self.text.strip()) and self.finish_reason != "length"


OnDone = Callable[[Request, Completion], None]


class Backend(Protocol):
    concurrency: int  # requests it works on at once (a server's open requests, a local model's batch)

    async def run(self, requests: Sequence[Request], on_done: OnDone) -> dict[str, str]:
        """Complete every request, calling `on_done` as each finishes; return request id → failure reason."""
        ...


@dataclass
class Tally:
    """Tokens, requests and failures of a stage, from the API's usage fields (cache hits cost nothing)."""

    sent: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    unusable: int = 0
    failed: int = 0
    retries: Counter = field(default_factory=Counter)
    cost_usd: float = 0.0

    def reset(self) -> None:
        self.__init__()

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "retries": dict(self.retries), "cost_usd": round(self.cost_usd, 6)}
