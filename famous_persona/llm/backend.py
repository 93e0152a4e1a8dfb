"""What every LLM backend shares: requests, completions, the cache-first runner, failures and the running tally."""

from __future__ import annotations

import hashlib
import json
import re
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
    """One chat completion: `sample` numbers independent draws of the same prompt; `attempt` counts the times an
    unusable reply to it was asked again, each time with another seed (`reask_seed`)."""

    id: str
    model: str
    messages: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, Any], ...] = ()
    sample: int = 0
    attempt: int = 0

    @property
    def key(self) -> str:
        """Hash of what the caller asked for; the id and the attempt are not part of it, so every re-ask of a request
        files its reply under the same key."""
        payload = {"model": self.model, "messages": self.messages, "params": self.params, "sample": self.sample}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def chat(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def sent_params(self) -> dict[str, Any]:
        """The parameters as sent: a re-ask carries its own seed, so a deterministic server answers anew."""
        params = dict(self.params)
        if self.attempt and "seed" in params:
            params["seed"] = reask_seed(int(params["seed"]), self.attempt)
        return params

    @property
    def seed(self) -> int | None:
        return self.sent_params().get("seed")


def reask_seed(seed: int, attempt: int) -> int:
    """The seed of re-ask `attempt` of a request seeded `seed`: a fixed function of both, so a rerun from an empty
    cache sends the same sequence of seeds, and apart from the seeds of other samples (a 31-bit hash)."""
    digest = hashlib.sha256(f"reask:{seed}:{attempt}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def make_request(rid: str, model: str, messages: Sequence[tuple[str, str]], params: dict, sample: int = 0) -> Request:
    return Request(rid, model, tuple(messages), tuple(sorted(params.items())), sample)


@dataclass
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False
    attempt: int = 0
    seed: int | None = None

    @property
    def usable(self) -> bool:
        """Empty or cut-off replies are finished requests but not usable answers."""
        return bool(self.text.strip()) and self.finish_reason != "length"

    @property
    def cut(self) -> bool:
        """The reply ran into the token cap (`max_tokens`)."""
        return self.finish_reason == "length"


OnDone = Callable[[Request, Completion], None]
# Why a reply is not usable, in words a report can print; None when it is usable.
Check = Callable[[Completion], "str | None"]
EMPTY = "empty"
CUT = "cut at the length cap"  # (max_tokens; the words avoid "token", which the manifest redactor blanks)
REFUSED = "refused"
FAILED = "no reply (retries spent)"
_REFUSAL = re.compile(
    r"^\W*(?:I'?m sorry|I am sorry|sorry,|I can(?:no|')t (?:help|answer|assist|provide|do)|I cannot|I won'?t|"
    r"as an AI(?: language model)?,? I)",
    re.IGNORECASE,
)


def basic_problem(completion: Completion) -> str | None:
    """The problems every stage shares: an empty reply, or one cut at the token cap."""
    if not completion.text.strip():
        return EMPTY
    return CUT if completion.cut else None


def refused(text: str) -> bool:
    """A reply that opens by declining the task (checked only where the reply also failed to parse)."""
    return bool(_REFUSAL.match(text.strip()[:120]))


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
    reasked: int = 0
    failed: int = 0
    lowest_concurrency: int = 0
    retries: Counter = field(default_factory=Counter)
    cost_usd: float = 0.0

    def reset(self) -> None:
        self.__init__()

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "retries": dict(self.retries), "cost_usd": round(self.cost_usd, 6)}
