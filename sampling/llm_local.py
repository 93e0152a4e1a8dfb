"""The `transformers` backend: batched generation in-process with a local model (no server needed).

Each batch is seeded from its first request's cache key, so re-running the same batch reproduces its replies."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from famous_persona.models import load_model, load_tokenizer
from sampling.llm import Completion, OnDone, Request


class TransformersBackend:
    """Generates `batch_size` requests with the same sampling parameters (seeds aside) at a time, left-padded."""

    def __init__(self, model: str, dtype: str = "float32", batch_size: int = 8):
        self.tokenizer = load_tokenizer(model)
        self.tokenizer.padding_side = "left"
        self.model = load_model(model, dtype=dtype)
        self.batch_size = batch_size

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
        texts = [
            self.tokenizer.apply_chat_template(r.chat(), tokenize=False, add_generation_prompt=True) for r in batch
        ]
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        max_new = int(params.get("max_tokens", 256))
        temperature = float(params.get("temperature", 1.0))
        torch.manual_seed(int(batch[0].key[:8], 16))
        with torch.no_grad():
            out = self.model.generate(
                **inputs,
                max_new_tokens=max_new,
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=float(params.get("top_p", 1.0)),
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = out[:, inputs["input_ids"].shape[1] :]
        completions = []
        for row, prompt_len in zip(new, inputs["attention_mask"].sum(dim=1).tolist(), strict=True):
            ended = bool((row == self.tokenizer.eos_token_id).any())
            tokens = row[row != self.tokenizer.pad_token_id]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            finish = "stop" if ended else "length"
            completions.append(Completion(text, finish, int(prompt_len), int(tokens.numel())))
        return completions
