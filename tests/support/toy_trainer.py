"""A trainer stage that leaves the model as it started: the whole training skeleton (fold data, run folder, saved
model, finished manifest) without the seconds a real optimizer step costs, for the trainer registry's test."""

from __future__ import annotations

from transformers import Trainer
from trl import DPOConfig, ModelConfig

from training.command import trainer_command
from training.common import Fitted, Job, run_training
from training.run_data import RunArguments

STAGE = "tests.support.toy_trainer"


def build(job: Job) -> Fitted:
    """The starting model, handed back untrained beside the validation rows the skeleton selects checkpoints on."""
    trainer = Trainer(model=job.load_model(), args=job.config, eval_dataset=job.dataset(job.data.validation))
    return Fitted(trainer, metrics={})


def train(run: RunArguments, config: DPOConfig, model_config: ModelConfig) -> None:
    run_training(STAGE, run, config, model_config, build, [run, config, model_config])


make_parser, main = trainer_command("toy", [RunArguments, DPOConfig, ModelConfig], __doc__, train)
