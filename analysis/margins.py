"""Preference margins of a model for edited prompts: the chat path of training and scoring, then one forward pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from transformers import PreTrainedModel

from famous_persona import chat
from famous_persona.eval_target import TargetArguments, load_target, resolve_target
from famous_persona.logprobs import completion_logps
from famous_persona.schema import DpoRecord, Message


def with_prefix(record: DpoRecord, prefix: str, replacement: str) -> DpoRecord:
    """The record with its prefix text in the last user turn replaced (the question and answers stay)."""
    last = record.prompt[-1]
    edited = Message(role=last.role, content=last.content.replace(prefix, replacement, 1))
    return record.model_copy(update={"prompt": [*record.prompt[:-1], edited]})


def margins(model: PreTrainedModel, tokenizer: Any, records: Sequence[DpoRecord], args: Any) -> np.ndarray:
    """ref_free_avg margin (chosen minus rejected mean token log-prob) of each record, in batches."""
    sequences = []
    for record in records:
        conv = chat.conversation(record, tokenizer, args.max_length, args.system_prompt)
        pair = chat.encode(tokenizer, conv)
        sequences += [(pair.prompt_ids, pair.chosen_ids), (pair.prompt_ids, pair.rejected_ids)]
    values = np.array(
        [
            total / n
            for i in range(0, len(sequences), args.batch_size)
            for total, n in completion_logps(model, sequences[i : i + args.batch_size], tokenizer.pad_token_id)
        ]
    )
    return values[0::2] - values[1::2]


def model_scorer(args: TargetArguments) -> Callable[[DpoRecord, str], Callable[[Sequence[str]], np.ndarray]]:
    """Load the model once, as the evaluation target resolves it; for a record and its prefix, a scorer from edited
    prefix texts to margins."""
    tokenizer, model = load_target(resolve_target(args))

    def for_record(record: DpoRecord, prefix: str) -> Callable[[Sequence[str]], np.ndarray]:
        return lambda texts: margins(model, tokenizer, [with_prefix(record, prefix, t) for t in texts], args)

    return for_record
