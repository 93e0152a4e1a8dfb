"""Log-probabilities of answers given prompts, every sequence in full: the reference scorer, shared by evaluation and
analysis."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import torch
from transformers import PreTrainedModel

from famous_persona.chat import EncodedPair


@torch.no_grad()
def completion_logps(
    model: PreTrainedModel, sequences: Sequence[tuple[list[int], list[int]]], pad_id: int
) -> list[tuple[float, int]]:
    """Sum of log p(completion token | everything before it) and the number of completion tokens, per sequence."""
    lengths = [len(p) + len(c) for p, c in sequences]
    width = max(lengths)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    target = torch.zeros((len(sequences), width), dtype=torch.bool)
    for row, (prompt, completion) in enumerate(sequences):
        ids[row, : lengths[row]] = torch.tensor(prompt + completion)
        mask[row, : lengths[row]] = 1
        target[row, len(prompt) : lengths[row]] = True
    device = next(model.parameters()).device
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
    picked = target[:, 1:].to(device)
    sums = (logps * picked).sum(-1).tolist()
    return [(total, int(n)) for total, n in zip(sums, picked.sum(-1).tolist(), strict=True)]


def batches(items: Sequence[int], sizes: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped by similar length, so little padding is computed."""
    order = sorted(items, key=lambda i: sizes[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def score_pairs(
    model: PreTrainedModel, pairs: Sequence[EncodedPair], pad_id: int, batch_size: int
) -> list[tuple[float, int, float, int]]:
    """(chosen_logp, chosen_tokens, rejected_logp, rejected_tokens) per pair."""
    sequences = [
        s for pair in pairs for s in ((pair.prompt_ids, pair.chosen_ids), (pair.prompt_ids, pair.rejected_ids))
    ]
    sizes = [len(p) + len(c) for p, c in sequences]
    results: list[tuple[float, int]] = [(0.0, 0)] * len(sequences)
    for group in batches(range(len(sequences)), sizes, batch_size):
        for index, value in zip(group, completion_logps(model, [sequences[i] for i in group], pad_id), strict=True):
            results[index] = value
    return [(*results[2 * i], *results[2 * i + 1]) for i in range(len(pairs))]


@contextmanager
def adapter_disabled(model: PreTrainedModel) -> Iterator[None]:
    """The reference policy of a LoRA model is its base: the same weights with the adapter switched off."""
    context = model.disable_adapter() if hasattr(model, "disable_adapter") else nullcontext()
    with context:
        yield
