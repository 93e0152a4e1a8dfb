"""A run's arguments and the rows they select: the fold's seen people's train pairs less a validation slice, shaped
into TRL's conversational rows from the same conversation scoring sees."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from famous_persona import chat
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir
from famous_persona.personas import deal_per_person, split_people
from famous_persona.schema import DpoRecord


@dataclass
class RunArguments:
    """Which data, prefix method and fold to train on; the run directory is `--output_dir`."""

    data: str = field(default="data/synthetic", metadata={"help": "Dataset directory (docs/design.md)."})
    method: str = field(default="no_prefix", metadata={"help": "Train prefix method: reads dpo/<method>/train.jsonl."})
    fold: int = field(default=0, metadata={"help": "People of this fold are held out (unseen)."})
    fold_scheme: str = field(
        default="fold",
        metadata={
            "help": "fold: persona folds; axis: leave-one-axis-out (fold k = k-th axis); person: train on the "
            "k-th person alone (per-person models)."
        },
    )
    val_fraction: float = field(
        default=0.1, metadata={"help": "Share of each seen person's train pairs kept for checkpoint selection."}
    )
    max_train_pairs: int | None = field(
        default=None,
        metadata={
            "help": "Train on at most this many pairs, dealt evenly over the seen people with the seed, after the "
            "validation slice is drawn (a quick run on a real model; the count is in the manifest)."
        },
    )
    system_prompt: str | None = field(default=None, metadata={"help": "System message, if the model wants one."})
    effective_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Rows per optimizer step over all processes (the paper's 40). When set, "
            "gradient_accumulation_steps is derived from it, per_device_train_batch_size and the number of processes; "
            "a split that does not come out whole is refused with the sizes that would. A "
            "--gradient_accumulation_steps given on the command line wins over it."
        },
    )
    force: bool = field(default=False, metadata={"help": "Redo a finished run."})


@dataclass
class FoldData:
    train: list[DpoRecord]
    validation: list[DpoRecord]
    seen: list[str]
    unseen: list[str]


def fold_data(args: RunArguments, seed: int) -> FoldData:
    """The seen people's train rows, less a validation slice drawn from those same train rows (never test pairs).
    The slice is drawn over distinct ids: a mix holds a pair once per part, and all its copies go to one side."""
    dataset = DatasetDir(args.data)
    seen, unseen = split_people(dataset.personas(), args.fold, args.fold_scheme)
    rows = [row for row in dataset.dpo(args.method, "train") if row.name in set(seen)]
    rng = random.Random(f"{seed}-validation-{args.fold}")
    validation_ids: set[str] = set()
    for name in seen:
        own = sorted({row.id for row in rows if row.name == name})
        validation_ids.update(rng.sample(own, round(len(own) * args.val_fraction)))
    train = [row for row in rows if row.id not in validation_ids]
    validation = [row for row in rows if row.id in validation_ids]
    if args.max_train_pairs is not None:
        train = deal_per_person(train, args.max_train_pairs, rng)
    if not train:
        path = dataset.dpo_path(args.method, "train")
        raise DataError(f"{path}: no training rows for the seen people of fold {args.fold}")
    return FoldData(train, validation, seen, unseen)


Row = dict[str, Any]
RowMaker = Callable[[chat.Conversation], list[Row]]


def pair_rows(conv: chat.Conversation) -> list[Row]:
    """DPO's row: the prompt with the chosen answer against the rejected one."""
    return [{"prompt": conv.prompt, "chosen": conv.chosen, "rejected": conv.rejected}]


def chosen_rows(conv: chat.Conversation) -> list[Row]:
    """SFT's row: the prompt and the chosen answer, the only one it learns to give."""
    return [{"prompt": conv.prompt, "completion": conv.chosen}]


def to_dataset(
    records: list[DpoRecord],
    tokenizer: PreTrainedTokenizerBase,
    args: RunArguments,
    max_length: int | None,
    counter: Counter,
    rows: RowMaker = pair_rows,
) -> Dataset:
    """Conversational rows from the conversation `famous_persona.chat` makes, the same one evaluation scores, so
    every trainer sees the text as scoring will; `rows` shapes each conversation into the trainer's rows."""
    out: list[Row] = []
    for record in records:
        conv = chat.conversation(record, tokenizer, max_length, args.system_prompt)
        counter["truncated"] += conv.truncated_words > 0
        out.extend(rows(conv))
    return Dataset.from_list(out)
