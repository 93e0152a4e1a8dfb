"""A person's history for VPL: K of their train pairs, embedded once by a frozen model and cached to disk.

Only pairs with split=train are ever candidates, so no test pair can reach z. Each pair is formatted by
`famous_persona.chat`, like every other text a model sees.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from famous_persona import chat
from famous_persona.errors import DataError
from famous_persona.io import atomic_write_bytes
from famous_persona.models import load_model
from famous_persona.schema import Pair

CACHE_NAME = "vpl_history.pt"


@dataclass(frozen=True)
class History:
    """Embedded history of each person, padded to K: `embeddings` [people, K, 2, dim], `mask` [people, K]."""

    names: list[str]
    ids: list[list[str]]
    embeddings: torch.Tensor
    mask: torch.Tensor

    def row(self, name: str) -> int:
        return self.names.index(name)


def history_ids(pairs: Sequence[Pair], names: Sequence[str], k: int, seed: int) -> dict[str, list[str]]:
    """K ids per person drawn (seeded) from that person's train pairs; a person without train pairs is an error."""
    chosen = {}
    for name in names:
        own = sorted(pair.id for pair in pairs if pair.name == name and pair.split == "train")
        if not own:
            raise DataError(f"pairs.jsonl: {name!r} has no split=train pairs to build a VPL history from")
        chosen[name] = sorted(random.Random(f"{seed}-history-{name}").sample(own, min(k, len(own))))
    return chosen


def _sequences(pair: Pair, tokenizer: PreTrainedTokenizerBase, max_length: int | None, system: str | None):
    record = chat.pair_record(pair, pair.prompt)
    ids = chat.encode(tokenizer, chat.conversation(record, tokenizer, max_length, system))
    return ids.prompt_ids + ids.chosen_ids, ids.prompt_ids + ids.rejected_ids


@torch.no_grad()
def embed_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    max_length: int | None = None,
    system_prompt: str | None = None,
    batch_size: int = 32,
) -> torch.Tensor:
    """[pairs, 2, dim]: the last layer's hidden state at the final token of prompt+chosen and of prompt+rejected."""
    sequences = [s for pair in pairs for s in _sequences(pair, tokenizer, max_length, system_prompt)]
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(sequences), batch_size):
        group = sequences[start : start + batch_size]
        lengths = torch.tensor([len(s) for s in group])
        ids = torch.full((len(group), int(lengths.max())), tokenizer.pad_token_id, dtype=torch.long)
        for row, sequence in enumerate(group):
            ids[row, : len(sequence)] = torch.tensor(sequence)
        mask = (torch.arange(ids.shape[1]) < lengths.unsqueeze(1)).long()
        hidden = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
        last = hidden.hidden_states[-1][torch.arange(len(group)), (lengths - 1).to(device)]
        out.append(last.float().cpu())
    return torch.cat(out).view(len(pairs), 2, -1)


def _read_cache(path: Path, embedder: str) -> dict[str, tuple[list[str], torch.Tensor]]:
    if not path.is_file():
        return {}
    cache = torch.load(path, weights_only=True)
    return cache["people"] if cache["embedder"] == embedder else {}


def _write_cache(path: Path, embedder: str, people: dict[str, tuple[list[str], torch.Tensor]]) -> None:
    """Written atomically, so a crash never leaves a half-written cache."""
    buffer = io.BytesIO()
    torch.save({"embedder": embedder, "people": people}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def build_history(
    pairs: Sequence[Pair],
    names: Sequence[str],
    k: int,
    seed: int,
    embedder: tuple[str, PreTrainedModel | None, PreTrainedTokenizerBase],
    cache_path: Path | str,
    max_length: int | None = None,
    system_prompt: str | None = None,
) -> History:
    """History of `names`; people cached with the same embedder and the same pair ids are not embedded again.
    `embedder` is (its name, the loaded model or None to load it on first need, its tokenizer)."""
    cache_path = Path(cache_path)
    wanted = history_ids(pairs, names, k, seed)
    cache = _read_cache(cache_path, embedder[0])
    missing = [name for name in names if name not in cache or cache[name][0] != wanted[name]]
    if missing:
        model = embedder[1] if embedder[1] is not None else load_model(embedder[0], device="auto")
        by_id = {pair.id: pair for pair in pairs}
        for name in missing:
            chosen = [by_id[pair_id] for pair_id in wanted[name]]
            cache[name] = (wanted[name], embed_pairs(model, embedder[2], chosen, max_length, system_prompt))
        _write_cache(cache_path, embedder[0], cache)
    dim = next(iter(cache.values()))[1].shape[-1]
    embeddings = torch.zeros(len(names), k, 2, dim)
    mask = torch.zeros(len(names), k, dtype=torch.bool)
    for row, name in enumerate(names):
        vectors = cache[name][1]
        embeddings[row, : len(vectors)] = vectors
        mask[row, : len(vectors)] = True
    return History(list(names), [wanted[name] for name in names], embeddings, mask)
