"""DPO of a small model on one prefix method and fold, with TRL's DPOTrainer (LoRA, QLoRA or full fine-tuning).

Usage: `python -m training.dpo --config experiments/configs/models/tiny/dpo.yaml --data DIR
--method persona_gold --fold 0 --output_dir dump/demo/tiny/dpo/persona_gold/fold0 --model_name_or_path dump/demo/base`.
Re-running resumes from the last checkpoint; a finished run is skipped unless `--force`. With `--refresh_every N`
the model re-infers its persona prefixes every N epochs (training.persona_refresh).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from trl import DPOConfig, DPOTrainer, ModelConfig

from famous_persona.io import DatasetDir
from training.command import trainer_command
from training.common import Fitted, Job, fit, run_training
from training.persona_refresh import PersonaRefresher, RefreshArguments, train_in_rounds
from training.run_data import RunArguments

logger = logging.getLogger(__name__)


class DpoBuilder:
    """Makes DPOTrainers on the model as it stands: the LoRA adapter is added once and then trained further."""

    def __init__(self, job: Job, refreshing: bool):
        self.job = job
        # The reference is the base model: LoRA switched off, or a loaded copy where refresh rounds hand a trained
        # adapter on (TRL would otherwise freeze that adapter as the reference and let it drift round by round).
        policy = job.policy(own_reference=refreshing)
        self.model, self.ref_model, self.peft = policy.model, policy.reference, policy.peft

    def __call__(self, train_rows: list, validation_rows: list, args: DPOConfig) -> DPOTrainer:
        trainer = DPOTrainer(
            model=self.model,
            ref_model=self.ref_model,
            args=args,
            train_dataset=self.job.dataset(train_rows, max_length=args.max_length),
            eval_dataset=self.job.dataset(validation_rows, max_length=args.max_length),
            processing_class=self.job.tokenizer,
            peft_config=self.peft,
        )
        self.model, self.peft = trainer.model, None
        return trainer


def build(job: Job, refresh: RefreshArguments | None) -> Fitted:
    refreshing = refresh is not None and refresh.refresh_every > 0
    make_trainer = DpoBuilder(job, refreshing)
    if refreshing:
        return _train_with_refresh(job, refresh, make_trainer)
    return fit(make_trainer(job.data.train, job.data.validation, job.config))


def _train_with_refresh(job: Job, refresh: RefreshArguments, make_trainer: DpoBuilder) -> Fitted:
    """Rounds of `refresh_every` epochs, the persona method re-inferred by the policy after each."""
    config = job.config
    method = refresh.refresh_method or job.run.method
    refresher = PersonaRefresher(
        DatasetDir(job.run.data), method, refresh, job.run_dir / "refresh", job.run.system_prompt
    )

    def round_trainer(train_rows: list, validation_rows: list, index: int, epochs: float) -> DPOTrainer:
        args = copy.deepcopy(config)
        args.num_train_epochs = epochs
        args.output_dir = str(job.run_dir / "rounds" / f"round{index}")
        return make_trainer(train_rows, validation_rows, args)

    rows = (job.data.train, job.data.validation)
    trainer, resume, seconds = train_in_rounds(
        refresher, rows, config.num_train_epochs, refresh.refresh_every, round_trainer, job.tokenizer, config.seed
    )
    resumed = resume and str(Path(resume).relative_to(job.run_dir))
    extra = {"persona_refresh": {"method": method, "rounds": refresher.log(), "resumed_from": resumed}}
    return Fitted(trainer, {"train_runtime": seconds}, None, extra)


def train(
    run: RunArguments, config: DPOConfig, model_config: ModelConfig, refresh: RefreshArguments | None = None
) -> None:
    configs = [run, config, model_config, *([refresh] if refresh is not None else [])]
    run_training("training.dpo", run, config, model_config, lambda job: build(job, refresh), configs)


make_parser, main = trainer_command("train", [RunArguments, DPOConfig, ModelConfig, RefreshArguments], __doc__, train)


if __name__ == "__main__":
    main()
