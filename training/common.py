"""The one training skeleton every trainer runs through: skip a finished run, take the fold's data and its validation
slice, load the tokenizer, let the trainer build and train, then save the model, the log and a finished manifest.

The run directory is the training config's `output_dir`: checkpoints (`checkpoint-N`, removed once the run is
finished), `model/`, `train_log.jsonl` and `manifest.json`. A new trainer writes one `build` function (docs/design.md).
"""

from __future__ import annotations

import logging
import random
import shutil
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint
from trl import ModelConfig, TrlParser

from famous_persona import chat, progress
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.manifest import skip_finished, write_manifest
from famous_persona.models import load_model, load_tokenizer, model_init_kwargs
from famous_persona.personas import split_people
from famous_persona.schema import DpoRecord

logger = logging.getLogger(__name__)
# TRL's configs give the deprecated `gradient_checkpointing` a default and its trainers ask `is_gradient_checkpointing`,
# so transformers warns on every run even when a recipe sets `activation_checkpointing`: nothing a user could change.
DEPRECATED_ALIAS = r"`(is_)?gradient_checkpointing\w*` is deprecated"
# Loading the best checkpoint of a model whose output layer is tied to its input embeddings: the file holds no
# `lm_head.weight` (it is the embedding matrix), and the trainer warns although nothing is lost.
TIED_HEAD = "There were missing keys in the checkpoint model loaded: ['lm_head.weight']."


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


def select_on_validation(config: TrainingArguments, has_validation: bool) -> None:
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


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest `checkpoint-N` a run left behind, through transformers' own lookup."""
    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None


@dataclass
class Job:
    """What a trainer's `build` is handed: the configs, the fold's rows and the tokenizer."""

    run: RunArguments
    config: TrainingArguments
    model_config: ModelConfig
    data: FoldData
    tokenizer: PreTrainedTokenizerBase
    counter: Counter = field(default_factory=Counter)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.output_dir)

    def dataset(self, records: list[DpoRecord], sft: bool = False, max_length: int | None = None) -> Dataset | None:
        """TRL's conversational rows (None for no records), truncations counted for the manifest."""
        if not records:
            return None
        length = max_length if max_length is not None else self.config.max_length
        return to_dataset(records, self.tokenizer, self.run, length, self.counter, sft)

    def load_model(self) -> PreTrainedModel:
        """The starting model with every ModelConfig field honoured (dtype, revision, attention, quantization)."""
        kwargs = model_init_kwargs(self.model_config, self.config.trust_remote_code)
        return load_model(self.model_config.model_name_or_path, **kwargs)


@dataclass
class Fitted:
    """A trained trainer, its `train_result.metrics`, the checkpoint it resumed from and extra manifest fields."""

    trainer: Trainer
    metrics: dict[str, Any]
    resumed_from: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def fit(trainer: Trainer, before_resume: Callable[[str], None] | None = None) -> Fitted:
    """Train, resuming from the run's last checkpoint when there is one."""
    resume = last_checkpoint(trainer.args.output_dir)
    if resume:
        logger.info("resuming from %s", resume)
        if before_resume is not None:
            before_resume(resume)
    result = trainer.train(resume_from_checkpoint=resume)
    return Fitted(trainer, result.metrics, resume and Path(resume).name)


def prepare(run: RunArguments, config: TrainingArguments, model_config: ModelConfig) -> Job:
    """The fold's data, checkpoint selection on its validation slice, and the tokenizer; no tqdm bar off a terminal
    (the trainer then prints one line of metrics per logging step instead)."""
    data = fold_data(run, config.seed)
    select_on_validation(config, bool(data.validation))
    config.disable_tqdm = progress.quiet_off_terminal() or config.disable_tqdm
    return Job(run, config, model_config, data, load_tokenizer(model_config.model_name_or_path))


def run_training(
    stage: str,
    run: RunArguments,
    config: TrainingArguments,
    model_config: ModelConfig,
    build: Callable[[Job], Fitted],
    configs: list[Any],
) -> None:
    """The skeleton: skip if finished, prepare, let `build` make and train its trainer, save and finish."""
    if skip_finished(config.output_dir, run.force):
        return
    job = prepare(run, config, model_config)
    save_and_finish(build(job), job, stage, configs)


def save_and_finish(fitted: Fitted, job: Job, stage: str, configs: list[Any]) -> None:
    """Save the selected model, the log and a finished manifest, then drop the resume checkpoints."""
    trainer, run_dir = fitted.trainer, job.run_dir
    trainer.save_model(str(run_dir / "model"))
    if not trainer.is_world_process_zero():
        return
    job.tokenizer.save_pretrained(str(run_dir / "model"))
    write_jsonl(run_dir / "train_log.jsonl", trainer.state.log_history)
    best = trainer.state.best_model_checkpoint
    config = {type(c).__name__: c.to_dict() if hasattr(c, "to_dict") else asdict(c) for c in configs if is_dataclass(c)}
    write_manifest(
        run_dir / "manifest.json",
        stage=stage,
        config=config,
        status="finished",
        best_checkpoint=best and Path(best).name,
        processes=trainer.args.world_size,
        global_step=trainer.state.global_step,
        base_model=job.model_config.model_name_or_path,
        seen=job.data.seen,
        unseen=job.data.unseen,
        rows={
            "train": len(job.data.train),
            "validation": len(job.data.validation),
            "truncated": job.counter["truncated"],
        },
        train_seconds=round(fitted.metrics.get("train_runtime", 0.0), 2),
        resumed_from=fitted.resumed_from,
        **fitted.extra,
    )
    for checkpoint in [*run_dir.glob("checkpoint-*"), run_dir / "rounds"]:
        shutil.rmtree(checkpoint, ignore_errors=True)


@contextmanager
def library_noise_quieted() -> Iterator[None]:
    """Drop the two messages every run log showed that say nothing about the run: the deprecated alias warnings and
    the tied output layer reported missing."""
    trainer_logger = logging.getLogger("transformers.trainer")
    trainer_logger.addFilter(_not_tied_head)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", DEPRECATED_ALIAS, FutureWarning)
            yield
    finally:
        trainer_logger.removeFilter(_not_tied_head)


def _not_tied_head(record: logging.LogRecord) -> bool:
    return record.getMessage() != TIED_HEAD


def trainer_command(
    command: str, dataclass_types: Sequence[type], doc: str | None, train: Callable[..., None]
) -> tuple[Callable, Callable]:
    """`make_parser` and `main` of a trainer module: the parsed dataclasses, in order, are `train`'s arguments."""

    def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
        return stage_parser(command, dataclass_types, doc, subparsers)

    @exit_on_data_error
    def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        with library_noise_quieted():
            train(*parse_config(parser or make_parser(), args))

    return make_parser, main
