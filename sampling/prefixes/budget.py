"""A token budget per prefix for one tokenizer, with one truncation policy: when a prefix is over budget, whole shots
are dropped from the end of its shot order first (the least similar, for retrieval), and only a prefix that is still
over budget, or has no shots to drop, is cut at a token boundary. Every drop and cut is counted and logged."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

from famous_persona.models import load_tokenizer

logger = logging.getLogger(__name__)

Shot = TypeVar("Shot")


class TokenBudget:
    """At most `max_tokens` tokens of `tokenizer` per prefix text."""

    def __init__(self, tokenizer: str, max_tokens: int):
        if max_tokens < 1:
            raise ValueError("a token budget must be at least 1 token")
        self.tokenizer = load_tokenizer(tokenizer)
        self.max_tokens = max_tokens
        self.counts: Counter = Counter()

    def length(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cut(self, text: str) -> str:
        """The text up to the end of its `max_tokens`-th token."""
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        return text[: offsets[self.max_tokens - 1][1]].rstrip()

    def fit(
        self, label: str, text: str, shots: Sequence[Shot], render: Callable[[Sequence[Shot]], str] | None
    ) -> tuple[str, list[Shot]]:
        """(text, shots kept) within budget; `render` rebuilds the text from fewer shots, where shots are the text."""
        shots = list(shots)
        if self.length(text) <= self.max_tokens:
            return text, shots
        self.counts["over_budget"] += 1
        while render is not None and len(shots) > 1 and self.length(text) > self.max_tokens:
            shots = shots[:-1]
            text = render(shots)
            self.counts["shots_dropped"] += 1
        if self.length(text) > self.max_tokens:
            text = self.cut(text)
            self.counts["texts_cut"] += 1
        logger.info("%s: fitted to %d tokens with %d shot(s) kept", label, self.max_tokens, len(shots))
        return text, shots

    def report(self) -> dict[str, int]:
        """The counts since the last report, which then start again from zero."""
        counts = {key: self.counts[key] for key in ("over_budget", "shots_dropped", "texts_cut")}
        self.counts.clear()
        return {"max_tokens": self.max_tokens, **counts}
