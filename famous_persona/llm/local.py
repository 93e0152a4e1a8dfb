"""The `transformers` backend: batched generation in-process with a local model (no server needed).

Each batch is seeded from its first request's cache key, so re-running the same batch reproduces its replies."""

from __future__ import annotations

from collections.abc import Sequence

from famous_persona.decoding import generate
from famous_persona.llm.backend import Completion, OnDone, Request, reask_seed
from famous_persona.models import load_model, load_tokenizer


class TransformersBackend:
    """Generates `batch_size` requests with the same sampling parameters (seeds aside) at a time, left-padded."""

    def __init__(self, model: str, dtype: str = "auto", batch_size: int = 8, system_prompt: str | None = None):
        self.tokenizer = load_tokenizer(model)
        self.model = load_model(model, dtype=dtype, device="auto")
        self.batch_size = self.concurrency = batch_size
        self.system_prompt = system_prompt

    async def run(self, requests: Sequence[Request], on_done: OnDone) -> dict[str, str]:
        groups: dict[tuple, list[Request]] = {}
        for request in requests:
            shared = tuple(item for item in request.params if item[0] != "seed")
            groups.setdefault(shared, []).append(request)
        for params, group in groups.items():
            for start in range(0, len(group), self.batch_size):
                batch = group[start : start + self.batch_size]
                for request, completion in zip(batch, self._generate(batch, dict(params)), strict=True):
                    on_done(request, completion)
        return {}

    def _generate(self, batch: Sequence[Request], params: dict) -> list[Completion]:
        replies = generate(
            self.model,
            self.tokenizer,
            [r.chat() for r in batch],
            max_new_tokens=int(params.get("max_tokens", 256)),
            temperature=float(params.get("temperature", 1.0)),
            top_p=float(params.get("top_p", 1.0)),
            seed=_batch_seed(batch[0]),
            system_prompt=self.system_prompt,
        )
        return [
            Completion(r.text, "stop" if r.finished else "length", r.prompt_tokens, r.completion_tokens)
            for r in replies
        ]


def _batch_seed(first: Request) -> int:
    """A batch's seed from its first request's key, and a fresh one when that request is a re-ask."""
    base = int(first.key[:8], 16)
    return reask_seed(base, first.attempt) if first.attempt else base
