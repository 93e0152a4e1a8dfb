"""Decoding replies from a local model for chat requests, batched and left-padded: the transformers backend of the
generation pipeline and the persona refresh during training both generate this way."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from famous_persona.chat import generation_prompt_ids as chat_ids


@dataclass(frozen=True)
class Generated:
    text: str
    finished: bool
    prompt_tokens: int
    completion_tokens: int


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    chats: list[list[dict[str, str]]],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    system_prompt: str | None = None,
) -> list[Generated]:
    """One reply per chat; `finished` is False when the reply ran into `max_new_tokens`. The prompt's token ids are
    the ones scoring and training use (`chat.generation_prompt_ids`, same system-turn policy)."""
    ids = [chat_ids(tokenizer, messages, system_prompt) for messages in chats]
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        inputs = tokenizer.pad({"input_ids": ids}, return_tensors="pt", padding=True).to(model.device)
    finally:
        tokenizer.padding_side = side
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_p=top_p,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[:, inputs["input_ids"].shape[1] :]
    replies = []
    for row, prompt_len in zip(new, inputs["attention_mask"].sum(dim=1).tolist(), strict=True):
        finished = bool((row == tokenizer.eos_token_id).any())
        tokens = row[row != tokenizer.pad_token_id]
        text = tokenizer.decode(tokens, skip_special_tokens=True).strip()
        replies.append(Generated(text, finished, int(prompt_len), int(tokens.numel())))
    return replies
