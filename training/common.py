"""The one training skeleton every trainer runs through: skip a finished run, take the fold's data and its validation
slice, load the tokenizer, let the trainer build and train, then save the model, the log and a finished manifest.

The run directory is the training config's `output_dir`: checkpoints (`checkpoint-N`, removed once the run is
finished), `model/`, `train_log.jsonl` and `manifest.json` (status `running` with the config from the start, so a
resume can be checked against it; `finished` at the end). A new trainer writes one `build` function and gets a
registry entry in famous_persona/trainers.py (docs/design.md §15.3).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainingArguments
from trl import ModelConfig, get_peft_config

from famous_persona import progress
from famous_persona.errors import DataError
from famous_persona.io import write_jsonl
from famous_persona.manifest import skip_finished, write_manifest
from famous_persona.models import load_model, load_tokenizer, model_init_kwargs
from famous_persona.redaction import register
from famous_persona.schema import DpoRecord
from training.effective_batch import fill_without_repeats, replicas, settle_accumulation
from training.resume import WEIGHTS, begin_run, last_checkpoint
from training.run_data import FoldData, RowMaker, RunArguments, fold_data, pair_rows, to_dataset

if TYPE_CHECKING:
    from peft import PeftConfig

logger = logging.getLogger(__name__)


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
    """The fold's data, a per-device batch it fills, checkpoint selection on its validation slice, and the tokenizer;
    no tqdm bar off a terminal (the trainer then prints one line of metrics per logging step instead)."""
    data = fold_data(run, config.seed)
    fill_without_repeats(config, len(data.train))
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
