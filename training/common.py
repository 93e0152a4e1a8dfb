"""What SFT and DPO runs share: run arguments, the fold's data with its validation slice, skipping and manifests."""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from famous_persona import chat
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.manifest import is_finished, write_manifest
from famous_persona.personas import split_people
from famous_persona.schema import DpoRecord

logger = logging.getLogger(__name__)


@dataclass
class RunArguments:
    """Which data, prefix method and fold to train on, and where the run goes."""

    data: str = field(default="data/synthetic", metadata={"help": "Dataset directory (SPEC §3.1)."})
    method: str = field(default="no_prefix", metadata={"help": "Train prefix method: reads dpo/<method>/train.jsonl."})
    fold: int = field(default=0, metadata={"help": "People of this fold are held out (unseen)."})
    fold_scheme: str = field(
        default="fold",
        metadata={
            "help": "fold: persona folds; axis: leave-one-axis-out (fold k = k-th axis); person: train on the "
            "k-th person alone (per-person models)."
        },
    )
    run_dir: str = field(default="dump/run", metadata={"help": "Run directory; the model goes to <run_dir>/model."})
    val_fraction: float = field(
        default=0.1, metadata={"help": "Share of each seen person's train pairs kept for checkpoint selection."}
    )
    system_prompt: str | None = field(default=None, metadata={"help": "System message, if the model wants one."})
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
    if not train:
        path = dataset.dpo_path(args.method, "train")
        raise DataError(f"{path}: no training rows for the seen people of fold {args.fold}")
    return FoldData(train, validation, seen, unseen)


def to_dataset(
    records: list[DpoRecord],
    tokenizer: PreTrainedTokenizerBase,
    args: RunArguments,
    max_length: int | None,
    counter: Counter,
    sft: bool = False,
) -> Dataset:
    """Conversational rows made by `famous_persona.chat`, the same function evaluation uses: preference rows for DPO,
    prompt + chosen completion for SFT."""
    rows = []
    for record in records:
        conv = chat.conversation(record, tokenizer, max_length, args.system_prompt)
        counter["truncated"] += conv.truncated_words > 0
        if sft:
            rows.append({"prompt": conv.prompt, "completion": conv.chosen})
        else:
            rows.append({"prompt": conv.prompt, "chosen": conv.chosen, "rejected": conv.rejected})
    return Dataset.from_list(rows)


def should_skip(args: RunArguments) -> bool:
    done = is_finished(Path(args.run_dir) / "manifest.json") and not args.force
    if done:
        logger.warning("%s is finished; skipping (use --force to redo it)", args.run_dir)
    return done


def last_checkpoint(output_dir: str | Path) -> str | None:
    checkpoints = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(checkpoints[-1]) if checkpoints else None


def finish_run(args: RunArguments, stage: str, configs: list[Any], log_history: list[dict], **extra: Any) -> None:
    run_dir = Path(args.run_dir)
    write_jsonl(run_dir / "train_log.jsonl", log_history)
    config = {type(c).__name__: c.to_dict() if hasattr(c, "to_dict") else asdict(c) for c in configs if is_dataclass(c)}
    write_manifest(run_dir / "manifest.json", stage=stage, config=config, status="finished", **extra)


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def select_on_validation(config: Any, has_validation: bool) -> None:
    """Checkpoint selection on the validation slice of seen people's train pairs, never on test pairs."""
    if not has_validation:
        config.eval_strategy = "no"
        return
    if config.eval_strategy == "no":
        config.eval_strategy = "epoch"
    config.save_strategy = config.eval_strategy
    config.load_best_model_at_end = True
    config.metric_for_best_model = config.metric_for_best_model or "eval_loss"
    config.greater_is_better = config.metric_for_best_model != "eval_loss"


def model_inputs(model_config: Any) -> dict[str, Any]:
    """Arguments of `famous_persona.models.load_model` from TRL's ModelConfig."""
    quantization = "4bit" if model_config.load_in_4bit else "8bit" if model_config.load_in_8bit else None
    dtype = model_config.dtype if model_config.dtype not in (None, "auto") else "float32"
    return {"name_or_path": model_config.model_name_or_path, "dtype": dtype, "quantization": quantization}


def save_and_finish(trainer: Any, tokenizer: Any, args: RunArguments, stage: str, configs: list[Any], **extra: Any):
    """Save the selected model, the log and a finished manifest, then drop the resume checkpoints."""
    model_dir = Path(args.run_dir) / "model"
    trainer.save_model(str(model_dir))
    if not trainer.is_world_process_zero():
        return
    tokenizer.save_pretrained(str(model_dir))
    best = trainer.state.best_model_checkpoint
    finish_run(
        args,
        stage,
        configs,
        trainer.state.log_history,
        best_checkpoint=best and Path(best).name,
        processes=trainer.args.world_size,
        global_step=trainer.state.global_step,
        **extra,
    )
    shutil.rmtree(Path(args.run_dir) / "checkpoints", ignore_errors=True)
