"""Score a VPL model like every other method: the same pairs, metric, scores.jsonl and summary.json (SPEC §4.5).

Each person's z is the posterior mean from their own history of train pairs (unseen people included: the encoder
needs no training on them). The soft token goes in front of each prompt for the model and for its reference.
Usage: `python -m evaluation.score_vpl --model dump/demo/tiny/vpl/fold0/model --ref_model
dump/demo/tiny/no_prefix/fold0/sft/model --data DIR --test_method no_prefix --fold 0
--out dump/demo/tiny/vpl/fold0/eval/no_prefix --experiment demo --model_short tiny`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel
from trl import TrlParser

from evaluation.score import ScoreArguments, on_device, pair_rows, print_accuracy, write_outputs
from famous_persona import chat
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error
from famous_persona.history import CACHE_NAME, build_history
from famous_persona.io import DatasetDir
from famous_persona.logprobs import adapter_disabled, score_pairs
from famous_persona.manifest import is_finished
from famous_persona.models import is_adapter, load_model, load_tokenizer
from famous_persona.personas import held_out
from famous_persona.vpl import load_encoder, mean_tokens, soft_token

logger = logging.getLogger(__name__)


@dataclass
class VplScoreArguments(ScoreArguments):
    train_method: str = field(default="vpl", metadata={"help": "Train method recorded in the summary."})


def person_tokens(args: VplScoreArguments, dataset: DatasetDir, names: list[str]) -> dict[str, torch.Tensor]:
    """One soft token per person at their posterior mean, from the history the model was trained with."""
    encoder, info = load_encoder(args.model)
    embedder = info["embedder"]
    history = build_history(
        dataset.pairs(),
        names,
        info["history_size"],
        info["history_seed"],
        (embedder, None, load_tokenizer(embedder)),
        Path(args.model) / CACHE_NAME,
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


def _reference(args: VplScoreArguments, model: PreTrainedModel, run: dict[str, Any]):
    if args.ref_model is not None:
        return score_with_tokens(load_model(args.ref_model, dtype=args.dtype), **run)
    if is_adapter(args.model):
        with adapter_disabled(model):
            return score_with_tokens(model, **run)
    return None


def score(args: VplScoreArguments) -> dict[str, Any] | None:
    out = Path(args.out)
    if is_finished(out / "manifest.json") and not args.force:
        logger.warning("%s is finished; skipping (use --force to redo it)", out)
        return None
    dataset = DatasetDir(args.data)
    unseen = held_out(dataset.personas(), args.fold, args.fold_scheme)
    records = dataset.dpo(args.test_method, "test")
    tokenizer = load_tokenizer(args.model)
    convs = [chat.conversation(r, tokenizer, args.max_length, args.system_prompt) for r in records]
    names = [record.name for record in records]
    run = {
        "encoded": [chat.encode(tokenizer, conv) for conv in convs],
        "names": names,
        "tokens": person_tokens(args, dataset, sorted(set(names))),
        "pad_id": tokenizer.pad_token_id,
        "batch_size": args.batch_size,
    }
    model = on_device(load_model(args.model, dtype=args.dtype))
    rows = pair_rows(records, unseen, args.fold, score_with_tokens(model, **run), _reference(args, model, run))
    return write_outputs(args, rows, convs, "evaluation.score_vpl")


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("score-vpl", [VplScoreArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (score_args,) = parse_config(parser or make_parser(), args)
    print_accuracy(score(score_args))


if __name__ == "__main__":
    main()
