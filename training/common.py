"""The one training skeleton every trainer runs through: skip a finished run, take the fold's data and its validation
slice, load the tokenizer, let the trainer build and train, then save the model, the log and a finished manifest.

The run directory is the training config's `output_dir`: checkpoints (`checkpoint-N`, removed once the run is
finished), `model/`, `train_log.jsonl` and `manifest.json` (status `running` with the config from the start, so a
resume can be checked against it; `finished` at the end). A new trainer writes one `build` function and gets a
registry entry in famous_persona/trainers.py (docs/design.md §15.3).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainingArguments
from trl import ModelConfig, TrlParser, get_peft_config

from famous_persona import chat, progress
from famous_persona.config import Subparsers, command_line_keys, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, read_json, write_jsonl
from famous_persona.manifest import redact, shaping, skip_finished, write_manifest
from famous_persona.models import bf16_supported, load_model, load_tokenizer, model_init_kwargs
from famous_persona.personas import deal_per_person, split_people
from famous_persona.redaction import register
from famous_persona.schema import DpoRecord

if TYPE_CHECKING:
    from peft import PeftConfig

logger = logging.getLogger(__name__)
# TRL's configs give the deprecated `gradient_checkpointing` a default and its trainers ask `is_gradient_checkpointing`,
# so transformers warns on every run even when a recipe sets `activation_checkpointing`: nothing a user could change.
DEPRECATED_ALIAS = r"`(is_)?gradient_checkpointing\w*` is deprecated"
# Loading the best checkpoint of a model whose output layer is tied to its input embeddings: the file holds no
# `lm_head.weight` (it is the embedding matrix), and the trainer warns although nothing is lost.
TIED_HEAD = "There were missing keys in the checkpoint model loaded: ['lm_head.weight']."

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
)


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


def replicas(config: TrainingArguments) -> int:
    """Model copies that each take a per-device batch per step: the launched processes, times the GPUs a single
    process drives itself (several GPUs without a launcher)."""
    return config.world_size * max(1, config.n_gpu)


def per_device_sizes(total: int, copies: int) -> list[int]:
    """Per-device batch sizes that split `total` rows per step over `copies` into whole accumulation steps."""
    return [size for size in range(1, total // copies + 1) if total % (size * copies) == 0]


def split_refusal(total: int, per_device: int, copies: int) -> DataError:
    """Why `total` rows per step cannot be split, and the nearest settings that can."""
    problem = (
        f"effective_batch_size: {total} rows per optimizer step do not split into per_device_train_batch_size "
        f"{per_device} x {copies} process(es) x whole accumulation steps"
    )
    sizes = per_device_sizes(total, copies)
    if sizes:
        gap = min(abs(size - per_device) for size in sizes)
        nearest = " or ".join(str(size) for size in sizes if abs(size - per_device) == gap)
        problem += f"; per-device sizes that do: {', '.join(map(str, sizes))} (nearest: {nearest})"
    else:
        problem += f"; no per-device size does with {copies} processes"
    step = per_device * copies
    totals = sorted({value for value in ((total // step) * step, -(-total // step) * step) if value > 0})
    keep = " or ".join(map(str, totals))
    return DataError(f"{problem}; or keep per-device {per_device} with effective_batch_size {keep}")


def settle_accumulation(run: RunArguments, config: TrainingArguments) -> None:
    """The effective batch is the invariant: gradient accumulation is whatever makes it on this many processes."""
    if run.effective_batch_size is None:
        return
    copies = replicas(config)
    steps, rest = divmod(run.effective_batch_size, config.per_device_train_batch_size * copies)
    if rest or not steps:
        raise split_refusal(run.effective_batch_size, config.per_device_train_batch_size, copies)
    config.gradient_accumulation_steps = steps


def honour_stated_accumulation(configs: Sequence[Any], args: Sequence[str]) -> None:
    """A --gradient_accumulation_steps on the command line overrides the recipe's effective batch: the batch is
    then what that accumulation makes (logged when it differs, and the derivation is switched off)."""
    if "gradient_accumulation_steps" not in command_line_keys(args):
        return
    run = next((c for c in configs if isinstance(c, RunArguments)), None)
    config = next((c for c in configs if isinstance(c, TrainingArguments)), None)
    if run is None or config is None or run.effective_batch_size is None:
        return
    made = config.per_device_train_batch_size * replicas(config) * config.gradient_accumulation_steps
    if made != run.effective_batch_size:
        logger.warning(
            "--gradient_accumulation_steps %d makes an effective batch of %d rows, not the recipe's %d",
            config.gradient_accumulation_steps,
            made,
            run.effective_batch_size,
        )
        run.effective_batch_size = None


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


def checkpoint_gaps(checkpoint: Path) -> list[str]:
    """What a checkpoint lacks to be resumed from (a run killed while saving leaves only some files): model weights,
    a readable trainer_state.json, optimizer state (optimizer.pt, FSDP's optimizer_*, DeepSpeed's global_step*)."""
    names = {path.name for path in checkpoint.iterdir()}
    gaps = []
    if not (names & set(WEIGHTS) or any(name.startswith("pytorch_model_fsdp") for name in names)):
        gaps.append("model weights")
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        gaps.append("trainer_state.json")
    if not any(name == "optimizer.pt" or name.startswith(("optimizer_", "global_step")) for name in names):
        gaps.append("optimizer state")
    return gaps


def _newest_first(output_dir: Path) -> list[Path]:
    found = [path for path in output_dir.glob("checkpoint-*") if path.is_dir() and CHECKPOINT.match(path.name)]
    return sorted(found, key=lambda path: int(CHECKPOINT.match(path.name).group(1)), reverse=True)


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete `checkpoint-N` of a run. A newer incomplete one is skipped with a warning and kept where
    it is: the resumed run writes that step's checkpoint over it."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    for checkpoint in _newest_first(output_dir):
        gaps = checkpoint_gaps(checkpoint)
        if not gaps:
            return str(checkpoint)
        logger.warning("%s is incomplete (no %s); skipped and kept", checkpoint, ", ".join(gaps))
    return None


def _resume_state(run_dir: Path) -> list[Path]:
    """What a rerun would continue from: complete checkpoints of the run or of its persona-refresh rounds, and the
    log of finished refresh rounds."""
    checkpoints = [*run_dir.glob("checkpoint-*"), *run_dir.glob("rounds/*/checkpoint-*")]
    state = [path for path in checkpoints if path.is_dir() and not checkpoint_gaps(path)]
    return state + [path for path in [run_dir / "refresh" / "log.jsonl"] if path.is_file()]


def changed_settings(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`key old -> new` for every setting that differs between two manifest configs ({dataclass: {key: value}}),
    the neutral ones (paths, logging, launch, credentials) aside; a key only one side has (another library version)
    is not compared."""
    recorded, current = shaping(recorded), shaping(current)
    changes = []
    for section in sorted(set(recorded) & set(current)):
        old, new = recorded[section], current[section]
        for key in sorted(set(old) & set(new)):
            if old[key] != new[key]:
                changes.append(f"{key} {old[key]!r} -> {new[key]!r}")
    return changes


def begin_run(run_dir: Path, stage: str, config: dict[str, Any], force: bool, writer: bool) -> None:
    """Start over when forced; otherwise refuse to resume a run recorded with other settings. Then record the config
    (status running), which the next resume is checked against."""
    manifest = run_dir / "manifest.json"
    current = json.loads(json.dumps(redact(config)))
    state = _resume_state(run_dir)
    if force and state:
        logger.warning("--force: starting %s over (its checkpoints and refresh rounds are removed)", run_dir)
        for path in [*run_dir.glob("checkpoint-*"), run_dir / "rounds", run_dir / "refresh"]:
            shutil.rmtree(path, ignore_errors=True)
    elif state and not manifest.is_file():
        logger.warning("%s records no settings; resuming without checking them", run_dir)
    elif state:
        changes = changed_settings(read_json(manifest).get("config", {}), current)
        if changes:
            raise DataError(
                f"{manifest}: cannot resume, the run was started with other settings ({'; '.join(changes)}); "
                "rerun with its settings to resume it, or add --force to start over"
            )
    if writer:
        write_manifest(manifest, stage=stage, config=config, status="running")


@dataclass
class Policy:
    """What `Job.policy` hands a trainer: the model, its LoRA config, and its reference (None under LoRA, where the
    trainer gets the starting model back by switching the adapter off)."""

    model: PreTrainedModel
    reference: PreTrainedModel | None
    peft: PeftConfig | None


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

    def dataset(
        self, records: list[DpoRecord], rows: RowMaker = pair_rows, max_length: int | None = None
    ) -> Dataset | None:
        """TRL's conversational rows (None for no records), truncations counted for the manifest."""
        if not records:
            return None
        length = max_length if max_length is not None else self.config.max_length
        return to_dataset(records, self.tokenizer, self.run, length, self.counter, rows)

    def load_model(self) -> PreTrainedModel:
        """The starting model with every ModelConfig field honoured (dtype, revision, attention, quantization)."""
        kwargs = model_init_kwargs(self.model_config, self.config.trust_remote_code)
        return load_model(self.model_config.model_name_or_path, **kwargs)

    def policy(self, own_reference: bool = False) -> Policy:
        """The model to train, its LoRA settings and its reference: the starting model loaded a second time (every
        ModelConfig field holds for it too) under full fine-tuning or when `own_reference` asks for one."""
        peft = get_peft_config(self.model_config)
        model = self.load_model().train()
        reference = self.load_model() if peft is None or own_reference else None
        return Policy(model, reference, peft)


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


def keep_hub_token_out(config: TrainingArguments) -> None:
    """The Trainer pickles its arguments into every `training_args.bin`, so the hub token leaves them: it moves to
    `HF_TOKEN`, where huggingface_hub finds it if the run pushes to the hub, and is scrubbed from every output."""
    if config.hub_token:
        register(config.hub_token)
        os.environ["HF_TOKEN"] = config.hub_token
        config.hub_token = None


def run_training(
    stage: str,
    run: RunArguments,
    config: TrainingArguments,
    model_config: ModelConfig,
    build: Callable[[Job], Fitted],
    configs: list[Any],
) -> None:
    """The skeleton: skip if finished, prepare, let `build` make and train its trainer, save and finish."""
    keep_hub_token_out(config)
    if skip_finished(config.output_dir, run.force):
        return
    settle_accumulation(run, config)
    job = prepare(run, config, model_config)
    with config.main_process_first(desc="resume check"):
        begin_run(job.run_dir, stage, config_record(configs), run.force, config.should_save)
    save_and_finish(build(job), job, stage, configs)


def config_record(configs: list[Any]) -> dict[str, Any]:
    """The manifest's `config`: every dataclass of the run by its type name."""
    return {type(c).__name__: c.to_dict() if hasattr(c, "to_dict") else asdict(c) for c in configs if is_dataclass(c)}


def save_and_finish(fitted: Fitted, job: Job, stage: str, configs: list[Any]) -> None:
    """Save the selected model, the log and a finished manifest, then drop the resume checkpoints. A run whose
    model folder holds no weights afterwards is not finished: its checkpoints stay and the manifest says running."""
    trainer, run_dir = fitted.trainer, job.run_dir
    gather_full_weights(trainer)
    trainer.save_model(str(run_dir / "model"))
    if not trainer.is_world_process_zero():
        return
    if not any((run_dir / "model" / name).is_file() for name in WEIGHTS):
        raise DataError(
            f"{run_dir / 'model'}: the trainer saved no model weights (a sharded or DeepSpeed state dict that was "
            "not gathered?); the run is left unfinished with its checkpoints"
        )
    job.tokenizer.save_pretrained(str(run_dir / "model"))
    write_jsonl(run_dir / "train_log.jsonl", trainer.state.log_history)
    best = trainer.state.best_model_checkpoint
    write_manifest(
        run_dir / "manifest.json",
        stage=stage,
        config=config_record(configs),
        status="finished",
        best_checkpoint=best and Path(best).name,
        processes=trainer.args.world_size,
        effective_batch=trainer.args.per_device_train_batch_size
        * replicas(trainer.args)
        * trainer.args.gradient_accumulation_steps,
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


def gather_full_weights(trainer: Trainer) -> None:
    """Under FSDP with a sharded state dict, transformers' `save_model` writes nothing: checkpoints stay sharded
    (fast to write, and a resume reads them), and the final model is switched to a full state dict, which every rank
    gathers and the main one saves, as accelerate's plugin provides for."""
    if not trainer.is_fsdp_enabled:
        return
    plugin = trainer.accelerator.state.fsdp_plugin
    if "FULL_STATE_DICT" not in str(plugin.state_dict_type):
        plugin.set_state_dict_type("FULL_STATE_DICT")


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


def launched_without_cuda() -> bool:
    """Several processes started by a launcher on a machine without CUDA: only the CPU path (gloo) joins them, and
    without it each would train alone, all writing the same run folder."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def trainer_command(
    command: str, dataclass_types: Sequence[type], doc: str | None, train: Callable[..., None]
) -> tuple[Callable, Callable]:
    """`make_parser` and `main` of a trainer module: the parsed dataclasses, in order, are `train`'s arguments."""

    def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
        parser = stage_parser(command, dataclass_types, doc, subparsers)
        parser.set_defaults(bf16=bf16_supported(), use_cpu=launched_without_cuda())
        return parser

    @exit_on_data_error
    def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        args = list(args) if args is not None else sys.argv[1:]
        with library_noise_quieted():
            configs = parse_config(parser or make_parser(), args)
            honour_stated_accumulation(configs, args)
            train(*configs)

    return make_parser, main
