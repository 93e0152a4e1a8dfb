"""The VPL scorer of `evaluation.score`: each person's z is the posterior mean from their own history of train pairs
(unseen people included: the encoder needs no training on them), and its soft token goes in front of each prompt,
for the model and for its reference alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from famous_persona import chat
from famous_persona.history import CACHE_NAME, build_history
from famous_persona.io import DatasetDir
from famous_persona.logprobs import score_pairs
from famous_persona.models import load_tokenizer
from famous_persona.vpl import ENCODER_CONFIG, load_encoder, mean_tokens, soft_token


def has_encoder(model_dir: str | Path) -> bool:
    """A VPL model directory holds its user encoder beside the weights."""
    return (Path(model_dir) / ENCODER_CONFIG).is_file()


def person_tokens(model_dir: str | Path, dataset: DatasetDir, names: list[str]) -> dict[str, torch.Tensor]:
    """One soft token per person at their posterior mean, from the history the model was trained with."""
    encoder, info = load_encoder(model_dir)
    embedder = info["embedder"]
    history = build_history(
        dataset.pairs(),
        names,
        info["history_size"],
        info["history_seed"],
        (embedder, None, load_tokenizer(embedder)),
        Path(model_dir) / CACHE_NAME,
        info["max_length"],
        info["system_prompt"],
    )
    tokens = mean_tokens(encoder, history.embeddings, history.mask)
    return {name: tokens[row] for row, name in enumerate(history.names)}


def score_with_tokens(
    model: PreTrainedModel,
    encoded: Sequence[chat.EncodedPair],
    names: Sequence[str],
    tokens: dict[str, torch.Tensor],
    pad_id: int,
    batch_size: int,
) -> list[tuple[float, int, float, int]]:
    """`score_pairs` per person, with a slot in front of each prompt that holds that person's soft token."""
    results: list[Any] = [None] * len(encoded)
    for name, token in tokens.items():
        index = [i for i, owner in enumerate(names) if owner == name]
        slotted = [replace(encoded[i], prompt_ids=[pad_id, *encoded[i].prompt_ids]) for i in index]
        with soft_token([model], token):
            for i, value in zip(index, score_pairs(model, slotted, pad_id, batch_size), strict=True):
                results[i] = value
    return results
